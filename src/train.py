"""Train a GAN on MNIST: ``python src/train.py [key=value ...]``; conf/train.yaml lists the keys.

Examples:
    python src/train.py trainer.max_steps=20000
    python src/train.py -m data.batch_size=32,64,128,256
    python src/train.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt   # resume
"""

import logging
import shutil
import signal
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from ganlab.engine.divergence import Diverged
from ganlab.engine.interrupts import Interrupted
from ganlab.errors import one_line_errors, user_error
from ganlab.sweep_signals import hold_signals_in_job_process, joblib_sweep_dir, mark_stopped, stopped_by
from ganlab.training import train

log = logging.getLogger(__name__)


def remove_if_never_started(run_dir: Path) -> None:
    """A run refused before it trained leaves no folder: only Hydra's records would be in it."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "train.log"}:
        shutil.rmtree(run_dir)


def sweep_report(hydra_cfg: DictConfig) -> str:
    """What became of a sweep's jobs when one of them was interrupted."""
    num = hydra_cfg.job.num
    if not str(hydra_cfg.launcher.get("_target_", "")).endswith("BasicLauncher"):
        return f"job {num} of the sweep was interrupted; its other jobs are the launcher's to report"
    total = sweep_size(Path(hydra_cfg.sweep.dir) / "multirun.yaml")
    ran = "no job ran before it" if num == 0 else f"job{'s 0-' if num > 1 else ' '}{num - 1} ran before it"
    left = f"the {total - num - 1} after it (of {total}) did not start" if total else "the jobs after it did not start"
    return f"the sweep stops here: {ran}, job {num} was interrupted, {left}"


def sweep_size(multirun_yaml: Path) -> int | None:
    """The number of jobs in the sweep (the product of the swept values), from its multirun.yaml."""
    try:
        overrides = OmegaConf.load(multirun_yaml).hydra.overrides.task
    except Exception:  # a sweep folder without it: the count is only left out of the message
        return None
    total = 1
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        if override.is_sweep_override():
            total *= len(list(override.sweep_string_iterator()))
    return total


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@one_line_errors
def main(cfg: DictConfig) -> float | None:
    sweep_dir = joblib_sweep_dir()  # its jobs end differently when stopped (ganlab/sweep_signals.py)
    if sweep_dir is not None:
        hold_signals_in_job_process(sweep_dir)
        if (signum := stopped_by(sweep_dir)) is not None:
            why = f"job {HydraConfig.get().job.num} did not start: {signal.Signals(signum).name} stopped the sweep"
            log.error("%s", why)
            remove_if_never_started(Path(cfg.paths.output_dir))
            return stopped_job_ends(why)
    try:
        check_objective(cfg)
        metrics = train(cfg)
    except Interrupted as stop:
        last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        if last.is_file():
            log.error("%s; resume with ckpt_path=%s", stop, last)
        else:
            log.error("%s; no checkpoint was written (callbacks.model_checkpoint is off)", stop)
        if sweep_dir is not None:
            # Ends normally: joblib would answer an exit by killing the jobs still finishing their
            # iteration. The launching process exits with the signal's code once all have returned.
            mark_stopped(sweep_dir, stop.signum, f"job {HydraConfig.get().job.num}")
            return stopped_job_ends(str(stop))
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            log.error("%s", sweep_report(HydraConfig.get()))
        # not an exception: Hydra would go on to the sweep's next job
        raise SystemExit(stop.exit_code) from None
    except Diverged as diverged:
        log.error("%s", diverged)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweep's other jobs still run; Hydra reports this one as failed at the end
        raise SystemExit(1) from None
    except Exception as err:
        if user_error(err) is not None:  # a resumed run's folder holds checkpoints: it stays
            remove_if_never_started(Path(cfg.paths.output_dir))
        raise
    return objective(cfg, metrics)


def searching() -> bool:
    """Whether a sweeper that optimises the task's return value runs this job (not Hydra's basic one)."""
    return not str(HydraConfig.get().sweeper.get("_target_", "")).endswith("BasicSweeper")


def stopped_job_ends(why: str) -> None:
    """How a job of a stopped joblib sweep ends: normally (ganlab/sweep_signals.py), except under a
    search sweeper (Optuna), which would go on asking for trials; an error ends its search."""
    if searching():
        raise RuntimeError(f"{why}: the search stops")


def check_objective(cfg: DictConfig) -> None:
    """Before training: a search for an eval/* metric needs the evaluation that measures it."""
    name = cfg.get("optimized_metric")
    if searching() and name and name.startswith("eval/") and not (cfg.get("callbacks") or {}).get("sample_quality"):
        raise ValueError(f"optimized_metric={name} comes from the sample-quality evaluation, which "
                         "callbacks.sample_quality=null switches off: the search would have nothing to optimise")


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """What a Hydra sweeper (e.g. hparams_search=optuna) optimises: ``optimized_metric``. A sweeper
    that is given None records a failed trial and goes on, so a missing metric is an error here."""
    name = cfg.get("optimized_metric")
    value = metrics.get(name) if name else None
    if value is None and name and searching():
        raise ValueError(
            f"optimized_metric={name} was not measured in this run, so the sweeper has nothing to optimise "
            f"(it measured: {', '.join(sorted(metrics))}): choose one of those"
        )
    return value


if __name__ == "__main__":
    main()
