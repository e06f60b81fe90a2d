"""A run's last values: what train() returns, and the ``final/*`` columns of TensorBoard's HPARAMS
tab and of the sweep report, for every headline measure (tags.py)."""

from __future__ import annotations

import lightning as L

from ganlab import tags


def last_values(trainer: L.Trainer) -> dict[str, float]:
    """Each value's last: what the module and callbacks logged with ``self.log`` (Lightning keeps
    the last of each), and each callback's ``results`` (e.g. the last evaluation's scores, logged
    to the loggers directly)."""
    values = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    for callback in trainer.callbacks:
        values.update(getattr(callback, "results", {}))
    return values


class FinalValues(L.Callback):
    """When training ends, logs each headline measure's last value as ``final/<name>``, at the last
    iteration. One place for every headline value, the project's and a user's: registering the
    measure is all it takes (training.py adds this callback to every run)."""

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        values = last_values(trainer)
        final = {m.final: values[m.tag] for m in tags.headline() if m.tag in values}
        if not final:
            return
        for logger in trainer.loggers:
            logger.log_metrics(final, step=trainer.global_step)
            logger.save()
