"""One run per folder, and a refused run leaves its folder as it found it.

Before Hydra writes anything into a run's folder (its config, train.log), the launching process
takes an exclusive OS lock on ``<folder>/.run.lock`` (Hydra's public ``on_run_start`` and
``on_multirun_start`` hooks: ``ClaimRunFolder`` in conf/hydra/default.yaml). A second process
aimed at a held folder is refused in one line naming the holder, before it writes a byte there.
The OS drops the lock when its process dies, however it dies, so a killed run never blocks its
requeue. ``fcntl.flock`` rather than the filelock package: filelock's file cannot name its holder.

The claim also records what the folder held before, so that a run refused before it trained
(a mistake in its settings, a refused resume) can take back what this process added:
``leave_no_trace``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ganlab.errors import UserError

LOCK_NAME = ".run.lock"
LOG_NAME = "train.log"  # hydra/job_logging's file


class FolderInUse(UserError):
    """Another live process trains into the run folder."""


@dataclass
class Claim:
    folder: Path
    existed: bool  # the folder was there before this process (a resume, a requeue, a rerun)
    log_size: int  # train.log's size before this process wrote to it
    fd: int  # the open, locked lock file: kept open for the life of the process
    training: bool = False  # training began: from then on the folder holds the run's record


_claims: dict[Path, Claim] = {}


def claim(folder: str | os.PathLike) -> Claim:
    """Locks ``folder`` for this process (making it if needed); raises ``FolderInUse`` naming the
    holder if another live process has it, or ``UserError`` if it cannot be a folder of ours."""
    folder = Path(folder).resolve()
    if folder in _claims:
        return _claims[folder]
    existed = folder.is_dir()
    log = folder / LOG_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except FileExistsError:
        raise UserError(f"the run folder {folder} is a file: give the run a folder (hydra.run.dir=...)") from None
    except OSError as err:
        raise UserError(f"the run folder {folder} cannot be written ({err.strerror}): give the run a folder "
                        "you can write (hydra.run.dir=..., or paths.log_dir=...)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "a process that has not named itself yet"
        os.close(fd)
        raise FolderInUse(
            f"{folder} is in use by another run ({holder}): give this run a folder of its own "
            "(hydra.run.dir=...), or resume that run with ckpt_path=auto once it has stopped"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    _claims[folder] = Claim(folder, existed, log.stat().st_size if log.is_file() else 0, fd)
    return _claims[folder]


def holder(folder: str | os.PathLike) -> str | None:
    """Who holds ``folder``'s lock ("pid N on <host>"), or None if no live process does."""
    try:
        fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.pread(fd, 200, 0).decode(errors="replace").strip() or "a process that has not named itself yet"
    finally:
        os.close(fd)  # closing it drops a lock this took
    return None


def release(folder: str | os.PathLike) -> None:
    """Drops this process's claim on ``folder`` (a sweep job's process goes on to other jobs)."""
    record = _claims.pop(Path(folder).resolve(), None)
    if record is not None:
        os.close(record.fd)


def training_begins(folder: str | os.PathLike) -> None:
    """From here on a failure is the record of a run that trained, not a refusal: it is kept."""
    record = _claims.get(Path(folder).resolve())
    if record is not None:
        record.training = True


def training_began(folder: str | os.PathLike) -> bool:
    record = _claims.get(Path(folder).resolve())
    return record is not None and record.training


def leave_no_trace(folder: str | os.PathLike, config_subdir: str | None) -> None:
    """Takes back what this process added to ``folder`` for a run refused before it trained: the
    whole folder if this process made it, else its config (``config_subdir``, e.g.
    ``.hydra/resumed_<time>``) and its lines in train.log. A run that began training (e.g. a full disk
    later) keeps everything. A folder this process did not claim (a sweep's job folder, a run built
    in-process) is removed only if it holds nothing but Hydra's records."""
    folder = Path(folder).resolve()
    record = _claims.get(folder)
    if record is not None and record.training:
        return
    _stop_logging_into(folder / LOG_NAME)
    if record is None:
        if folder.is_dir() and {p.name for p in folder.iterdir()} <= {".hydra", LOG_NAME, LOCK_NAME}:
            shutil.rmtree(folder)
        return
    if not record.existed:
        for _ in range(3):  # a writer thread (a logger's) may add a file while it is removed
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                break
        return
    if config_subdir and config_subdir.startswith(".hydra/resumed_"):
        shutil.rmtree(folder / config_subdir, ignore_errors=True)
    log = folder / LOG_NAME
    if log.is_file() and log.stat().st_size > record.log_size:
        os.truncate(log, record.log_size)


def _stop_logging_into(log: Path) -> None:
    """Detaches Hydra's file handler from ``log``, so that the refusal itself goes to the console only."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).resolve() == log:
            root.removeHandler(handler)
            handler.close()


def _another_rank() -> bool:
    """DDP's other ranks (and srun's other tasks) start the same command into rank 0's folder."""
    return any(int(os.environ.get(name, 0) or 0) > 0 for name in ("LOCAL_RANK", "RANK", "SLURM_PROCID"))


class ClaimRunFolder(Callback):
    """The launching process's claim on its run folder (a single run) or sweep folder (a sweep)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not _another_rank():
            _claim_or_exit(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _claim_or_exit(config.hydra.sweep.dir)


def _claim_or_exit(folder: str) -> None:
    try:
        claim(folder)
    except UserError as err:
        # Hydra's logging is not set up yet (it would write into the folder): one line on stderr
        print(f"Error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
