"""Where a CPU job's wall time goes: start-up, training, evaluation, the end of the run.

    python benchmarks/cpu_breakdown.py [--iterations 20000] [overrides ...]

Runs ``src/train.py`` once (sample quality on, the evaluator cached) and reads its log lines'
timestamps; also times ``python -c "import lightning"`` alone, the floor of any start-up here.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def stamped(line: str) -> float | None:
    found = STAMP.match(line)
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if found else None


def first(lines: list[tuple[float, str]], text: str) -> float:
    return next(t for t, line in lines if text in line)


def time_import() -> float:
    start = time.time()
    subprocess.run([sys.executable, "-c", "import lightning"], check=True)
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    args, overrides = parser.parse_known_args()
    import_seconds = [time_import()]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        done = subprocess.run([sys.executable, str(ROOT / "src" / "train.py"), f"trainer.max_steps={args.iterations}",
                               f"hydra.run.dir={tmp}/run", "trainer.enable_progress_bar=false", *overrides],
                              capture_output=True, text=True, cwd=ROOT, check=True)
        end = time.time()
    import_seconds.append(time_import())  # before and after the run: the first may read a cold disk
    lines = [(t, line) for line in done.stdout.splitlines() if (t := stamped(line)) is not None]
    training = float(re.search(r"in ([0-9.]+) s of training", done.stdout).group(1))
    scoring = sum(float(s) for s in re.findall(r"samples, ([0-9.]+) s\)", done.stdout))
    phases = [
        ("start-up to the run folder line (imports, Hydra, the folder's lock)", first(lines, "Run folder") - start),
        ("building the run, MNIST to memory", first(lines, "Loading the MNIST evaluator") - first(lines, "Run folder")),
        ("loading the evaluator and the test images' features",
         first(lines, "sample quality: MNIST evaluator") - first(lines, "Loading the MNIST evaluator")),
        ("training (the iterations alone, reporting/clock.py)", training),
        ("scoring samples (every evaluation)", scoring),
        ("the end of the run after the summary, to exit", end - lines[-1][0]),
    ]
    total = end - start
    print(f"{args.iterations} iterations, wall {total:.1f} s; `import lightning` alone: "
          f"{' and '.join(f'{s:.1f}' for s in import_seconds)} s (before and after the run); the first "
          f"iteration began {first(lines, 'sample quality: MNIST evaluator') - start:.1f} s after the start")
    for name, seconds in phases:
        print(f"  {name:<70} {seconds:6.1f} s  {100 * seconds / total:4.0f}%")
    rest = total - sum(s for _, s in phases)
    print(f"  {'the rest (grids, checkpoints, GIF, curves, logging between phases)':<70} {rest:6.1f} s  "
          f"{100 * rest / total:4.0f}%")


if __name__ == "__main__":
    main()
