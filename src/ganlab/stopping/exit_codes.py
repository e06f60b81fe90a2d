"""How a run that did not finish ends: its line, its exit code, and what becomes of its sweep.

- A signal (``Interrupted``): the line says where to resume from; exit 128 + the signal's number
  (130, 143). In a sweep under the basic launcher the jobs after it do not start; a joblib sweep's
  job returns normally instead (sweeps.py) and its launching process exits with the code.
- Divergence: one line and exit 1; in a sweep the job fails and the other jobs still run.
- A refused run (a user's mistake, errors.py) leaves its folder as it found it (run_folders/lock.py).
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from ganlab import run_record
from ganlab.errors import user_error
from ganlab.run_folders.lock import leave_no_trace, training_began
from ganlab.divergence import Diverged
from ganlab.stopping.signals import Interrupted
from ganlab.stopping.sweeps import hold_signals_in_job_process, in_a_sweep, joblib_sweep_dir, mark_stopped, \
    orphaned, stopped_by

log = logging.getLogger(__name__)


def not_started_in_a_stopped_sweep(cfg: DictConfig) -> str | None:
    """In a joblib sweep: holds the stop signals for this job, and says why the job must not start
    if the sweep has been stopped (None: it may)."""
    sweep_dir = joblib_sweep_dir()
    if sweep_dir is None:
        return None
    hold_signals_in_job_process(sweep_dir)
    signum = stopped_by(sweep_dir)
    if signum is None:
        return None
    why = f"job {HydraConfig.get().job.num} did not start: {signal.Signals(signum).name} stopped the sweep"
    log.error("%s", why)
    leave_no_trace(cfg.paths.output_dir, None)
    return why


def interrupted(cfg: DictConfig, stop: Interrupted) -> None:
    """Ends a run a signal stopped (after its checkpoint): exits 128 + n, or in a joblib sweep returns."""
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    line = (f"{stop}; resume with ckpt_path={last}" if last.is_file() else
            f"{stop}; no checkpoint was written (callbacks.model_checkpoint is off)")
    if rank_zero_only.rank == 0:  # under DDP every rank stops; one says so
        log.error("%s", line)
    run_record.write("interrupted", cfg.paths.output_dir, iteration=stop.iteration, exit_code=stop.exit_code,
                     error=line, checkpoint=str(last) if last.is_file() else None)
    sweep_dir = joblib_sweep_dir()
    if sweep_dir is not None:
        # Ends normally: joblib would answer an exit by killing the jobs still finishing their
        # iteration. The launching process exits with the signal's code once all have returned.
        mark_stopped(sweep_dir, stop.signum, f"job {HydraConfig.get().job.num}")
        if orphaned():  # its launching process was killed: nobody reads what it returns, and loky's
            logging.shutdown()  # worker would linger; the checkpoint and the logs are written: the
            signal.signal(stop.signum, signal.SIG_DFL)  # signal's own end (exit status 128 + n)
            os.kill(os.getpid(), stop.signum)
        return
    if in_a_sweep():
        log.error("%s", sweep_outcome(HydraConfig.get()))
    # not an exception: Hydra would go on to the sweep's next job
    raise SystemExit(stop.exit_code) from None


def stopped_before_training(cfg: DictConfig) -> None:
    """Ctrl-C before training began (a first MNIST fetch, the evaluator's training): nothing was
    trained, so the run leaves its folder as a refused one does, and exits 130. After training
    began, a KeyboardInterrupt is the second Ctrl-C's, which stops at once: it is not handled here."""
    if training_began(cfg.paths.output_dir):
        return
    line = "Ctrl-C stopped the run before training began: nothing was trained, and nothing of it is kept"
    log.error("%s", line)
    leave_no_trace(cfg.paths.output_dir, HydraConfig.get().output_subdir if HydraConfig.initialized() else None)
    run_record.write("interrupted", None, iteration=0, exit_code=128 + signal.SIGINT, error=line)
    raise SystemExit(128 + signal.SIGINT) from None


def diverged(cfg: DictConfig, err: Diverged) -> None:
    if rank_zero_only.rank == 0:
        log.error("%s", err)
    run_record.write("diverged", cfg.paths.output_dir, exit_code=1, error=str(err))
    if in_a_sweep():
        raise err  # the sweep's other jobs still run; Hydra reports this one as failed at the end
    raise SystemExit(1) from None


def failed(cfg: DictConfig, err: Exception) -> None:
    """A run refused before it trained leaves its folder as it found it (run_folders/lock.py)."""
    mistake = user_error(err)
    if mistake is not None:  # the folder the command made (paths.output_dir may be the refused setting)
        made = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else cfg.paths.output_dir
        leave_no_trace(made, HydraConfig.get().output_subdir if HydraConfig.initialized() else None)
    refused = mistake is not None and not training_began(cfg.paths.output_dir)
    # a refused run leaves its folder as it found it, so its record goes to a caller only
    folder = cfg.paths.output_dir if Path(cfg.paths.output_dir).is_dir() and not refused else None
    run_record.write("refused" if refused else "failed", folder, exit_code=1,
                     error=str(mistake) if mistake is not None else f"{type(err).__name__}: {err}")


def sweep_outcome(hydra_cfg: DictConfig) -> str:
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
