"""Checkpoint files written whole or not at all, even on a full disk or a kill."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, staging each file beside its final name.

    Lightning's own stages a file in the system's temporary folder and moves it into place; across
    two file systems that move is a copy, which a full disk or a kill leaves half done under the
    real name. Here the file is written under a hidden name in the same folder, flushed to disk,
    and renamed, which replaces the old file in one step: a reader finds the old checkpoint or the
    new one, never a part of one.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        try:
            with open(partial, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)


def read_checkpoint(path) -> dict:
    """A checkpoint's contents, as data only (``weights_only``: nothing in it may run code), or a
    ``ValueError`` that says the file is not one (random bytes, a truncated file, another format)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # torch raises several kinds for a file that is not a checkpoint
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} is not a checkpoint this project can read ({first})") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a training checkpoint (it holds no state_dict)")
    return checkpoint
