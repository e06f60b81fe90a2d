"""Recipe search: each candidate trained with several seeds, scored the project's way (10,000
samples against the MNIST test set), one table line per candidate with the mean and range.

    python benchmarks/recipes.py --out logs/recipes \
        "g32:experiment=best model.generator.channels=32 trainer.max_steps=6500" \
        "full:experiment=best trainer.max_steps=3000"
    python benchmarks/recipes.py --out logs/recipes --table-only     # the table of what is there

Each candidate is one `src/train.py -m seed=1,2 hydra/launcher=joblib ...` sweep: its seeds train
side by side, one thread each, so a 2-core machine scores two seeds in about the time of one. Only
the final evaluation runs (`eval_interval` = the run's length). A candidate whose folder already
holds finished jobs is not trained again, so the table can grow over several calls. The time of
one candidate on its own (what a user waits for) is a separate measurement: run it alone.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
from pathlib import Path

from ganlab.reporting.tensorboard import read_scalars

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from ganlab.reporting.sweep_page import find_jobs, read_job  # noqa: E402

COLUMNS = ("final/fid", "final/recall", "final/precision", "final/classifier_score")


def train(out: Path, name: str, overrides: list[str], seeds: str) -> None:
    folder = out / name
    steps = next((o.split("=", 1)[1] for o in overrides if o.startswith("trainer.max_steps=")), None)
    if steps is None:
        raise SystemExit(f"{name}: give trainer.max_steps=N, the candidate's length")
    jobs = find_jobs(folder) if folder.is_dir() else []
    if jobs and all(read_job(j).status == "finished" for j in jobs):
        print(f"{name}: already trained in {folder}", flush=True)
        return
    command = [sys.executable, str(ROOT / "src" / "train.py"), "-m", "hydra/launcher=joblib", f"seed={seeds}",
               *overrides, f"eval_interval={steps}", f"hydra.sweep.dir={folder}", "hydra.sweep.subdir=seed_${seed}"]
    print(f"{name}: {' '.join(command[2:])}", flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def class_shares(folder: Path) -> tuple[float, float]:
    """The smallest and largest digit share of the final evaluation's samples."""
    logged = read_scalars(folder)
    shares = [logged[f"5_digits/class_share_{d}"][-1].value for d in range(10) if f"5_digits/class_share_{d}" in logged]
    return (min(shares), max(shares)) if shares else (math.nan, math.nan)


def spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return ""
    mean = statistics.fmean(values)
    return f"{mean:.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def table(out: Path) -> str:
    lines = ["| candidate | seeds | iterations | FID | recall | precision | classifier score | digit shares | "
             "s from first to last log, side by side |", "|" + " --- |" * 9]
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        jobs = [read_job(j) for j in find_jobs(folder)]
        done = [j for j in jobs if j.status == "finished"]
        if not done:
            continue
        shares = [class_shares(j.folder) for j in done]
        cells = [spread([j.finals[c] for j in done if c in j.finals], 3 if "fid" not in c else 2) for c in COLUMNS]
        lines.append(
            f"| {folder.name} | {len(done)} | {done[0].iterations} | {' | '.join(cells)} | "
            f"{min(s[0] for s in shares):.1%}-{max(s[1] for s in shares):.1%} | "
            f"{spread([j.seconds for j in done], 0)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candidates", nargs="*", help="NAME:overrides (space-separated Hydra overrides)")
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "recipes")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        for candidate in args.candidates:
            name, _, overrides = candidate.partition(":")
            train(args.out, name, overrides.split(), args.seeds)
    print(table(args.out))


if __name__ == "__main__":
    main()
