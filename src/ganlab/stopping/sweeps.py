"""Stopping a joblib sweep: every running job stops after an iteration with a checkpoint, and no
job starts after the signal.

Under ``hydra/launcher=joblib`` the jobs train in child processes (loky's workers), which a signal to
the launching process alone (``kill <pid>``, ``docker stop``, a pod's end) does not reach; and joblib
answers a job that exits by killing the others (SIGKILL), mid-iteration, before their checkpoint.
So the launching process (Hydra's public ``on_multirun_start`` hook) passes SIGTERM, SIGHUP, SIGUSR1 and
SIGUSR2 on to its job processes, and SIGINT as SIGTERM (Ctrl-C reaches the jobs already, and a
second SIGINT would stop a job mid-iteration); a second Ctrl-C to it aborts at once. A job that
stops on a signal returns normally after its checkpoint and writes ``SWEEP_STOPPED`` into the
sweep's folder; a job that finds it there does not start. When all have returned, the launching
process exits with 128 + the signal's number. Job processes keep a handler for these signals
around their training too, so that a signal there marks the sweep stopped instead of ending the
worker. A launching process killed with SIGKILL passes nothing on, and loky's workers would train
on as orphans (into folders a rerun would launch into): each job process watches for its
launching process, and stops as on SIGTERM when it is gone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from ganlab.stopping.signals import SIGNALS

log = logging.getLogger(__name__)

SWEEP_STOPPED = "SWEEP_STOPPED"  # in the sweep's folder: "<signal number> <who received it>"


def is_joblib(launcher: DictConfig) -> bool:
    """Whether ``hydra.launcher`` is joblib's: its jobs are child processes of the launching one."""
    return str(launcher.get("_target_", "")).endswith("JoblibLauncher")


def in_a_sweep() -> bool:
    """Whether this Hydra job is one of a sweep's (``-m``); a run built in-process is not."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def joblib_sweep_dir() -> str | None:
    """The sweep's folder if this Hydra job is one of a joblib sweep's, else None."""
    if not in_a_sweep():
        return None
    hydra_cfg = HydraConfig.get()
    return hydra_cfg.sweep.dir if is_joblib(hydra_cfg.launcher) else None


def mark_stopped(sweep_dir: str | Path, signum: int, by: str) -> None:
    """Records that the sweep was stopped; the first record stays."""
    try:
        with open(Path(sweep_dir) / SWEEP_STOPPED, "x") as marker:
            marker.write(f"{signum} {by}\n")
    except FileExistsError:
        pass


def stopped_by(sweep_dir: str | Path) -> int | None:
    """The signal that stopped the sweep, or None."""
    try:
        return int((Path(sweep_dir) / SWEEP_STOPPED).read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


class ForwardSignalsToJobs(Callback):
    """The launching process's side (``conf/hydra/default.yaml``: ``hydra.callbacks``)."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._sweep_dir: Path | None = None
        self._received: int | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not is_joblib(config.hydra.launcher):
            return  # other launchers' jobs are not this process's children
        self._sweep_dir, self._received = Path(config.hydra.sweep.dir), None
        (self._sweep_dir / SWEEP_STOPPED).unlink(missing_ok=True)  # a new sweep into an old folder
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        signum = stopped_by(self._sweep_dir) if self._sweep_dir is not None else None
        if signum is not None:
            log.error("the sweep was stopped by %s: its running jobs stopped after an iteration with a checkpoint, "
                      "the others did not start; the same command with hydra.sweep.dir=%s finishes it",
                      signal.Signals(signum).name, self._sweep_dir)
            raise SystemExit(128 + signum)

    def _handle(self, signum: int, frame) -> None:
        jobs = multiprocessing.active_children()  # loky's workers are multiprocessing processes
        if not jobs:  # none started yet, or n_jobs=1 (jobs in this process): the handler before this
            previous = self._previous.get(signum, signal.SIG_DFL)
            if callable(previous):
                previous(signum, frame)  # SIGINT: Python's KeyboardInterrupt
                return
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self._received is not None:  # passed on already
            if signum == signal.SIGINT and self._received == signal.SIGINT:
                raise KeyboardInterrupt  # asked twice: stop now
            return
        self._received = signum
        mark_stopped(self._sweep_dir, signum, "the launching process")
        log.warning("%s: the sweep stops; its %d job processes stop after their iteration and save a checkpoint%s",
                    signal.Signals(signum).name, len(jobs),
                    " (Ctrl-C again to stop them at once)" if signum == signal.SIGINT else "")
        forwarded = signal.SIGTERM if signum == signal.SIGINT else signum
        for job in jobs:
            try:
                os.kill(job.pid, forwarded)
            except ProcessLookupError:  # it ended meanwhile
                pass


def hold_signals_in_job_process(sweep_dir: str | Path) -> None:
    """In a joblib job's process: outside training, a stop signal marks the sweep stopped instead
    of ending the worker (which would make joblib kill the other jobs). Training's own handlers
    (``signals.py``) take over during ``fit`` and hand these back after it."""

    def hold(signum: int, frame) -> None:
        mark_stopped(sweep_dir, signum, f"job process {os.getpid()}")

    for signum in SIGNALS:
        signal.signal(signum, hold)
    _stop_when_orphaned()


_watched_parent: int | None = None


def orphaned() -> bool:
    """Whether this job process's launching process is gone (nobody waits for what the job returns)."""
    return _watched_parent is not None and os.getppid() != _watched_parent


def _stop_when_orphaned() -> None:
    """Once a job process: a thread that sends this process SIGTERM when its launching process is
    gone (its parent changes: the orphan was handed to init or a subreaper)."""
    global _watched_parent
    if _watched_parent is not None:
        return
    _watched_parent = parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        log.warning("the sweep's launching process (pid %d) is gone: this job stops after its iteration, "
                    "with a checkpoint", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-when-orphaned", daemon=True).start()
