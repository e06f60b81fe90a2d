from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar


class IterationProgressBar(TQDMProgressBar):
    """One bar over the whole run, counted in iterations (``trainer.max_steps``).

    Lightning's default draws a new bar per epoch, which means little when a run is set in
    iterations. The postfix shows d_loss and g_loss (refreshed when they are logged) and the bar
    shows it/s.
    """

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
        bar, n = self.train_progress_bar, trainer.global_step
        if bar is None or not self._should_update(n, bar.total):
            return
        bar.n = n
        bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        bar.refresh()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        pass

    def get_metrics(self, trainer: L.Trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # runs are told apart by their folders, not logger versions
        return metrics
