"""Writing a run's checkpoints: on which iterations, never of non-finite weights
(``IterationCheckpoint``), and each file whole or not at all (``AtomicCheckpointIO``).

Lightning's ``ModelCheckpoint`` decides when a checkpoint is written (every ``every_n_train_steps``
of ``trainer.global_step``, which the engine makes the iteration count); this adds ``last.ckpt``
when training ends between intervals and checks the weights before any write."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ganlab.checkpoints.reading import checkpoint_files
from ganlab.errors import UserError
from ganlab.divergence import Diverged, check_weights
from ganlab.schedule import ends_interval
from ganlab.whole_files import RUN_FIX, NotWritten, write_whole


class IterationCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, plus ``last.ckpt`` when training ends between intervals, and
    never a checkpoint of non-finite weights.

    Lightning saves only on its step or epoch triggers, so a run of 300 iterations with
    checkpoints every 5000 would end with none; this one always leaves ``last.ckpt``.
    """

    def __init__(self, *, every_n_train_steps: int | None = None, **kwargs):
        if every_n_train_steps is not None and every_n_train_steps < 1:  # Lightning's 0 would mean none, silently
            raise UserError(f"checkpoint_interval={every_n_train_steps}: give 1 or more iterations; to switch "
                            "it off, callbacks.model_checkpoint=null")
        super().__init__(every_n_train_steps=every_n_train_steps, **kwargs)
        self.every_n_iterations = every_n_train_steps or 0
        self._trainer_of_run: L.Trainer | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, *args, **kwargs) -> None:
        if ends_interval(trainer, self.every_n_iterations):
            check_weights(trainer, pl_module, before="checkpoint")
        with warnings.catch_warnings():
            # Lightning 2.6 warns that a manual-optimization checkpoint holds the state after the
            # optimizer steps. After a whole iteration, that is exactly the state to keep.
            warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
            super().on_train_batch_end(trainer, pl_module, *args, **kwargs)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        check_weights(trainer, pl_module, before="checkpoint")
        super().on_train_end(trainer, pl_module)
        if self.save_last and self.dirpath and not trainer.fast_dev_run:
            path = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
            trainer.save_checkpoint(str(path), weights_only=False)

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, Diverged):
            return  # the weights are what went wrong: nothing of them is saved
        if isinstance(exception, NotWritten):
            return  # writing is what went wrong (this checkpoint, a grid, the curves): another write would fail too
        try:
            check_weights(trainer, pl_module, before="checkpoint")
        except Diverged as diverged:
            warnings.warn(str(diverged), stacklevel=1)
            return
        super().on_exception(trainer, pl_module, exception)

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        with warnings.catch_warnings():
            # a resume writes into its folder's checkpoints/ on purpose (resume.py decides what it may do)
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
            super().setup(trainer, pl_module, stage)
        self._trainer_of_run = trainer

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        with warnings.catch_warnings():
            # a checkpoint resumed in a copied or moved run folder: this folder is the one to write
            warnings.filterwarnings("ignore", message="The dirpath has changed from")
            super().load_state_dict(state_dict)

    def format_checkpoint_name(self, metrics: dict[str, torch.Tensor], filename=None, ver=None, prefix=None) -> str:
        # The module logs a metric named "step" for the logger's x-axis, which Lightning would use
        # for {step} in file names; it is refreshed only every log_every_n_steps, so file names
        # take the live iteration count instead.
        if self._trainer_of_run is not None:
            metrics = {**metrics, "step": torch.tensor(self._trainer_of_run.global_step)}
        return super().format_checkpoint_name(metrics, filename, ver, prefix)


class CheckpointNotWritten(NotWritten):
    """A checkpoint file could not be written; the one before it is whole (written beside, then renamed)."""

    def __init__(self, path: Path, err: OSError):
        earlier = checkpoint_files(path.parent.parent)
        kept = (f"the checkpoints written before it are whole (newest: {max(earlier, key=os.path.getmtime)})"
                if earlier else "no checkpoint was written before it")
        super().__init__(path, err, RUN_FIX, what="the checkpoint ", kept=kept)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, staging each file beside its final name (``write_whole``).

    Lightning's own stages a file in the system's temporary folder and moves it into place; across
    two file systems that move is a copy, which a full disk or a kill leaves half done under the
    real name. Here the file is written under a hidden name in the same folder, flushed to disk,
    and renamed, which replaces the old file in one step: a reader finds the old checkpoint or the
    new one, never a part of one.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        write_whole(path, lambda file: torch.save(checkpoint, file), error=CheckpointNotWritten)
