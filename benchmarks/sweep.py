"""Sweep throughput: how many training iterations a machine gets through when a sweep's jobs run
one after another (Hydra's basic launcher) or side by side (hydra/launcher=joblib).

    python benchmarks/sweep.py                                   # the 4-job batch-size sweep, basic vs joblib
    python benchmarks/sweep.py --accelerator gpu --concurrency 1,4,8 --iterations 5000 \
        model.acceleration=cuda_graph                            # N jobs side by side on one GPU

Each line runs `src/train.py -m` as a user would (sample grids, evaluation and progress bar off) and
prints the aggregate iterations/s two ways: `wall`, all iterations over the sweep's whole wall time,
start-up included (what a user waits for); and `training`, the iterations between each job's first
and last logged one (TensorBoard's wall times) over the time at least one job was between those
two points, so jobs' start-up is left out. Ratios are against
the first line. Extra arguments are Hydra overrides for every job.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ganlab.reporting.tensorboard import read_scalars

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["callbacks.sample_quality=null", "trainer.enable_progress_bar=false",
         "sample_interval=1000000", "checkpoint_interval=1000000"]


def run_sweep(sweep_dir: Path, launcher: list[str], values: str, key: str, iterations: int, accelerator: str,
              extra: list[str]) -> float:
    command = [sys.executable, str(ROOT / "src" / "train.py"), "-m", *launcher, f"{key}={values}",
               f"trainer.max_steps={iterations}", f"trainer.accelerator={accelerator}", *QUIET,
               f"trainer.log_every_n_steps={max(1, iterations // 20)}", *extra,
               f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=${hydra.job.num}"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"the sweep failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    return wall


def training_window(job_dir: Path) -> tuple[int, float, float]:
    """Iterations between the first and last logged iteration, and their wall times."""
    events = read_scalars(job_dir)["1_losses/d_loss"]
    return events[-1].step - events[0].step, events[0].wall_time, events[-1].wall_time


def training_rate(windows: list[tuple[int, float, float]]) -> float:
    """All windows' iterations over the length of their union."""
    busy, end = 0.0, float("-inf")
    for _, start, stop in sorted(windows, key=lambda w: w[1]):
        busy += max(0.0, stop - max(start, end))
        end = max(end, stop)
    return sum(w[0] for w in windows) / busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--iterations", type=int, default=1000, help="iterations of each job")
    parser.add_argument("--concurrency", default="",
                        help="e.g. 1,4,8: that many jobs (seeds) side by side with joblib, instead of the batch-size sweep")
    parser.add_argument("--batch-sizes", default="32,64,128,256", help="the batch-size sweep's values")
    args, overrides = parser.parse_known_args()
    cores = len(os.sched_getaffinity(0))
    lines = []
    if args.concurrency:
        for n in (int(c) for c in args.concurrency.split(",")):
            lines.append((f"{n} job(s) side by side (joblib, n_jobs={n})",
                          ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n}"], "seed", ",".join(map(str, range(n)))))
    else:
        jobs = len(args.batch_sizes.split(","))
        lines.append((f"{jobs} jobs one after another (basic launcher, {cores} threads each)", [], "data.batch_size",
                      args.batch_sizes))
        n_jobs = min(jobs, cores)
        lines.append((f"{jobs} jobs, {n_jobs} at a time (joblib, {max(1, cores // n_jobs)} thread(s) each)",
                      ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}"], "data.batch_size", args.batch_sizes))

    print(f"sweep throughput: accelerator={args.accelerator}, {args.iterations} iterations a job, {cores} cores, "
          f"overrides: {' '.join(overrides) or '-'}")
    print(f"  {'line':58s} {'wall it/s':>10s} {'training it/s':>14s} {'ratio (training)':>17s}")
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        for i, (title, launcher, key, values) in enumerate(lines):
            sweep_dir = Path(tmp) / str(i)
            wall = run_sweep(sweep_dir, launcher, values, key, args.iterations, args.accelerator, overrides)
            jobs = len(values.split(","))
            steady = training_rate([training_window(sweep_dir / str(j)) for j in range(jobs)])
            first = first or steady
            print(f"  {title:58s} {jobs * args.iterations / wall:10.1f} {steady:14.1f} {steady / first:17.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
