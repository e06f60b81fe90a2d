"""Training time, one definition for the console, TensorBoard and the sweep report: the time spent
in the iterations themselves, from the start of each training step to its end, without start-up,
evaluation, sample grids or checkpoints (the callbacks that run after it). On a GPU the host may
run ahead of the device between log iterations; the losses read on log iterations catch it up,
so the total is right at each logged point. Lightning's ``Timer`` callback times whole stages, the
callbacks' work within them too, so it cannot leave the evaluations out."""

from __future__ import annotations

import time
from typing import Any

import lightning as L

from ganlab import tags
from ganlab.schedule import is_log_iteration

TAG = tags.TRAINING_SECONDS


class TrainingClock(L.Callback):
    """Adds up each iteration's time; logs the total as ``6_time/training_seconds`` on log iterations.
    First among the callbacks (training.py), so its end of an iteration comes before the others' work.
    The total is saved in checkpoints, so a resumed run goes on counting."""

    def __init__(self) -> None:
        self.seconds = 0.0  # the whole run's, resumes included
        self.this_session = 0.0
        self._started: float | None = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self._started is None:
            return
        spent = time.perf_counter() - self._started
        self.seconds += spent
        self.this_session += spent
        self._started = None
        if is_log_iteration(trainer) and trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics({TAG: self.seconds}, step=trainer.global_step)

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seconds = float(state_dict.get("seconds", 0.0))
