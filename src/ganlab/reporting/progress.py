from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

from ganlab.schedule import is_log_iteration


class IterationProgressBar(TQDMProgressBar):
    """One bar over the whole run, counted in iterations (``trainer.max_steps``), showing it/s and
    the latest logged ``metrics``.

    Lightning's default draws a new bar per epoch, which means little when a run is set in
    iterations, and reads its metrics back from the device at every refresh; this one reads them
    only on log iterations, when they change.
    """

    def __init__(self, refresh_rate: int = 1, process_position: int = 0,
                 metrics: tuple[str, ...] = ("train/d_loss", "train/g_loss")):
        super().__init__(refresh_rate=refresh_rate, process_position=process_position)
        self.metrics = tuple(metrics)
        self._postfix: dict[str, str] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        bar = self.train_progress_bar
        bar.reset(total=trainer.max_steps if trainer.max_steps > 0 else None)
        bar.initial = trainer.global_step  # resumed runs start part-way
        bar.n = trainer.global_step
        bar.set_description("Training")

    def on_train_epoch_start(self, trainer: L.Trainer, *_) -> None:
        pass  # one bar for the run, not one per epoch

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if is_log_iteration(trainer):
            logged = trainer.callback_metrics
            self._postfix = {k.split("/")[-1]: f"{float(logged[k]):.3f}" for k in self.metrics if k in logged}
        bar, n = self.train_progress_bar, trainer.global_step
        if bar is None or not self.is_enabled or (n % self.refresh_rate and n != bar.total):
            return
        bar.n = n
        bar.set_postfix(self._postfix, refresh=False)
        bar.refresh()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        pass
