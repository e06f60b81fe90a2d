from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from ganlab.engine import ends_interval
from ganlab.engine.divergence import Diverged, check_weights


class IterationCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, plus ``last.ckpt`` when training ends between intervals, and
    never a checkpoint of non-finite weights.

    Lightning saves only on its step or epoch triggers, so a run of 300 iterations with
    checkpoints every 5000 would end with none; this one always leaves ``last.ckpt``.
    """

    def __init__(self, *, every_n_train_steps: int | None = None, **kwargs):
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
        try:
            check_weights(trainer, pl_module, before="checkpoint")
        except Diverged as diverged:
            warnings.warn(str(diverged), stacklevel=1)
            return
        super().on_exception(trainer, pl_module, exception)

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._trainer_of_run = trainer

    def format_checkpoint_name(self, metrics: dict[str, torch.Tensor], filename=None, ver=None, prefix=None) -> str:
        # The module logs a metric named "step" for the logger's x-axis, which Lightning would use
        # for {step} in file names; it is refreshed only every log_every_n_steps, so file names
        # take the live iteration count instead.
        if self._trainer_of_run is not None:
            metrics = {**metrics, "step": torch.tensor(self._trainer_of_run.global_step)}
        return super().format_checkpoint_name(metrics, filename, ver, prefix)
