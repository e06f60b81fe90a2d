"""A search with pruning against the same search without: same sampler seed, trial count and trials.

    python benchmarks/search_pruning.py [--trials 12] [--steps 1500] [--every 300] [--out logs/bench_pruning]

Prints, for each pruner: the best value and its trial's settings, the iterations trained in all
(a pruned trial counts up to the evaluation that stopped it), the trials pruned, and the wall
time; then the ratios. The searches run one after the other, so the wall times share the
machine's drift; the iteration counts do not depend on it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


def search(folder: Path, pruner: str, args) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    command = [sys.executable, str(ROOT / "src" / "train.py"), "-m", "hparams_search=optuna",
               "trainer.enable_progress_bar=false", f"trainer.max_steps={args.steps}", f"eval_interval={args.every}",
               f"callbacks.sample_quality.num_samples={args.samples}", f"hydra.sweeper.n_trials={args.trials}",
               f"hydra.sweeper.sampler.n_startup_trials={args.startup}", f"hydra.sweeper.pruner={pruner}",
               f"hydra.sweep.dir={folder}", "sample_interval=100000"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name="search", storage=f"sqlite:///{folder / 'optuna.db'}").trials
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(done, key=lambda t: t.value)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    iterations = sum(args.steps for _ in done) + sum(max(t.intermediate_values) for t in pruned)
    return {"pruner": pruner, "best": best.value, "best_trial": best.number, "params": best.params,
            "iterations": iterations, "pruned": len(pruned), "trials": len(trials), "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--startup", type=int, default=4, help="random trials before TPE models")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--every", type=int, default=300, help="eval_interval")
    parser.add_argument("--samples", type=int, default=2000, help="samples scored at each evaluation")
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench_pruning")
    args = parser.parse_args()
    rows = [search(args.out / pruner, pruner, args) for pruner in ("none", "median")]
    print(f"{args.trials} trials of {args.steps} iterations, FID on {args.samples} samples every {args.every}, "
          f"TPE seed 1234 ({args.startup} random trials first)")
    print("| pruner | best FID (trial) | iterations trained | trials pruned | wall s |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['pruner']} | {r['best']:.2f} ({r['best_trial']}) | {r['iterations']} | {r['pruned']} of "
              f"{r['trials']} | {r['wall']:.0f} |")
    none, median = rows
    print(f"median/none: iterations {median['iterations'] / none['iterations']:.2f}, wall {median['wall'] / none['wall']:.2f}, "
          f"best FID {median['best'] / none['best']:.3f}")
    for r in rows:
        print(f"best with pruner={r['pruner']}: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                                           for k, v in r["params"].items()))


if __name__ == "__main__":
    main()
