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
