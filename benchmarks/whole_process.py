"""Whole processes, start to exit, in interleaved rounds: what a user waits for.

    python benchmarks/whole_process.py                       # plain loop against src/train.py, 5000 iterations
    python benchmarks/whole_process.py --rounds 3 --lines plain,project,project:adam_foreach

Each line is one command run as its own process (imports, data loading, start-up checks and
writing the run's files included; sample quality off, as it costs the same on every line). Lines
run in turn within a round, in a rotated order each round, since this kind of machine's speed
drifts by tens of percent within minutes. Prints every wall time, and each line's median against
the first line's, round by round.

- ``plain``: the book's loop written by hand (``speed.plain_loop``: the same nets, data in memory,
  torch's default Adam), in a process that imports only what it needs;
- ``project``: ``python src/train.py trainer.max_steps=N callbacks.sample_quality=null``;
- ``project:<name>``: the same with the overrides of ``VARIANTS[name]``;
- ``checkout:<dir>``: ``src/train.py`` of another checkout (e.g. a worktree of the commit before a
  change), with this one's interpreter.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Variants of the book's recipe (whose Adam is fused); each player gets the same.
_BOTH = ("model.optimizer_g", "model.optimizer_d")
VARIANTS = {
    "adam_foreach": [f"{o}.fused=false" for o in _BOTH] + [f"+{o}.foreach=true" for o in _BOTH],
    "adam_for_loop": [f"{o}.fused=false" for o in _BOTH] + [f"+{o}.foreach=false" for o in _BOTH],
}

PLAIN = """
import sys, torch
sys.path.insert(0, {bench!r})
from speed import plain_loop
plain_loop([], {iterations}, torch.device("cpu"))
"""


def command(line: str, iterations: int, out: Path) -> list[str]:
    if line == "plain":
        return [sys.executable, "-c", PLAIN.format(bench=str(ROOT / "benchmarks"), iterations=iterations)]
    name, _, variant = line.partition(":")
    if name == "checkout":
        root, variant = Path(variant), ""
    else:
        root = ROOT
        if name != "project" or (variant and variant not in VARIANTS):
            raise SystemExit(f"--lines: unknown line {line!r}; use plain, project, project:<{'|'.join(VARIANTS)}> "
                             "or checkout:<dir>")
    return [sys.executable, str(root / "src" / "train.py"), f"trainer.max_steps={iterations}",
            "callbacks.sample_quality=null", f"hydra.run.dir={out}", *VARIANTS.get(variant, [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", default="plain,project")
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = args.lines.split(",")
    walls: dict[str, list[float]] = {line: [] for line in lines}
    with tempfile.TemporaryDirectory(prefix="whole-process-") as tmp:
        for r in range(args.rounds):
            order = lines[r % len(lines):] + lines[: r % len(lines)]
            for line in order:
                out = Path(tmp) / f"{r}-{line.replace(':', '-').replace('/', '-')}"
                start = time.perf_counter()
                done = subprocess.run(command(line, args.iterations, out), capture_output=True, text=True)
                wall = time.perf_counter() - start
                if done.returncode:
                    raise SystemExit(f"{line} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
                walls[line].append(wall)
                print(f"round {r + 1} {line:<28} {wall:7.1f} s", flush=True)
    first = lines[0]
    print(f"\n{args.iterations} iterations, {args.rounds} rounds; ratio = {first}'s wall / the line's "
          "(below 1: slower than it)")
    for line in lines:
        ratios = [a / b for a, b in zip(walls[first], walls[line])]
        print(f"{line:<28} median {statistics.median(walls[line]):7.1f} s   {first}/{line} "
              f"median {statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]")


if __name__ == "__main__":
    main()
