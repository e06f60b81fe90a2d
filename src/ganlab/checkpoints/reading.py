"""Reading a run's checkpoints: one file as data only (``read_checkpoint``), and which of a run
folder's ``ckpt_path=auto`` resumes (``newest_checkpoint``)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ganlab.checkpoints.trust import renamed
from ganlab.errors import UserError

LAST = "last.ckpt"

log = logging.getLogger(__name__)


def read_checkpoint(path) -> dict:
    """A checkpoint's contents, as data only (``weights_only``: nothing in it may run code), or a
    ``UserError`` that says the file is not one (empty, cut short, random bytes, another format)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # torch raises several kinds, with advice about saving that fits no case here
        size = Path(path).stat().st_size if Path(path).is_file() else None
        what = ("it is not a file" if size is None else "it is empty" if size == 0 else
                f"its {size:,} bytes are cut short or not a PyTorch checkpoint")
        raise UserError(f"{path} is not a checkpoint this project can read: {what}") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"{path} is not a training checkpoint (it holds no state_dict)")
    if isinstance(checkpoint.get("hyper_parameters"), dict):  # what an earlier version named, as named now
        checkpoint["hyper_parameters"] = renamed(checkpoint["hyper_parameters"])
    return checkpoint


def newest_checkpoint(run_dir: str | Path) -> Path | None:
    """What ``ckpt_path=auto`` resumes: the run folder's checkpoint of the latest iteration that
    reads whole (``last.ckpt`` on a tie), or None in a folder that holds none. A damaged one is
    skipped with a line saying so and which one is used instead (a full disk or a kill can leave
    ``last.ckpt`` missing or cut short); if every one is damaged, that is an error, never a reason
    to start afresh over them."""
    files = checkpoint_files(run_dir)
    if not files:
        return None
    readable, damaged = [], []
    for path in files:
        try:
            readable.append((int(read_checkpoint(path).get("global_step", 0)), path.name == LAST, path))
        except UserError as err:
            damaged.append(path)
            log.warning("%s", err)
    if not readable:
        raise UserError(
            f"every checkpoint in {Path(run_dir) / 'checkpoints'} is damaged ({', '.join(p.name for p in damaged)}): "
            "move them out of the folder to train afresh there, or give this run another folder (hydra.run.dir=...)"
        )
    iteration, _, newest = max(readable)
    if damaged:
        log.warning("Resuming from %s (iteration %d) instead of the damaged %s", newest.name, iteration,
                    ", ".join(p.name for p in damaged))
    return newest


def checkpoint_files(run_dir: str | Path) -> list[Path]:
    """Every checkpoint file in the run folder, readable or not."""
    folder = Path(run_dir) / "checkpoints"
    return sorted(folder.glob("*.ckpt")) if folder.is_dir() else []


def intact_beside(path: str | Path) -> list[str]:
    """The readable checkpoints in the same folder as ``path``, newest first (for a message)."""
    found = []
    for other in sorted(Path(path).parent.glob("*.ckpt")):
        if other.resolve() != Path(path).resolve():
            try:
                found.append((int(read_checkpoint(other).get("global_step", 0)), str(other)))
            except UserError:
                continue
    return [name for _, name in sorted(found, reverse=True)]
