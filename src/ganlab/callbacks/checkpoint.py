from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint


class IterationCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, plus ``last.ckpt`` when training ends between intervals.

    Lightning saves only on its step or epoch triggers, so a run of 300 iterations with
    checkpoints every 5000 would end with none; this one always leaves ``last.ckpt``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._trainer_of_run: L.Trainer | None = None

    def on_train_batch_end(self, *args, **kwargs) -> None:
        with warnings.catch_warnings():
            # Lightning 2.6 warns that a manual-optimization checkpoint holds the state after the
            # optimizer steps. After a whole iteration, that is exactly the state to keep.
            warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
            super().on_train_batch_end(*args, **kwargs)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if self.save_last and self.dirpath and not trainer.fast_dev_run:
            path = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
            trainer.save_checkpoint(str(path), weights_only=False)

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
