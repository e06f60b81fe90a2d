from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L

from ganlab import tags
from ganlab.whole_files import write_whole
from ganlab.schedule import is_log_iteration


class TrainingCurves(L.Callback):
    """Keeps the logged D loss, G loss and D accuracy; at the end of training draws them against
    iterations (like the book's figures) into ``path``.

    The history is saved in checkpoints, so a resumed run draws the whole run.
    """

    KEYS = (tags.D_LOSS, tags.G_LOSS, tags.D_ACCURACY)

    def __init__(self, path: str):
        self.path = Path(path)
        self.history: dict[str, list[float]] = {"iteration": [], **{k: [] for k in self.KEYS}}

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not is_log_iteration(trainer):
            return
        metrics = trainer.callback_metrics
        self.history["iteration"].append(trainer.global_step)
        for key in self.KEYS:  # a loss without a decision threshold (WGAN) logs no accuracy
            self.history[key].append(float(metrics[key]) if key in metrics else math.nan)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if not trainer.is_global_zero or not self.history["iteration"]:
            return
        self.plot()

    def plot(self) -> Path:
        import matplotlib

        matplotlib.use("Agg")  # files only; no display on servers
        import matplotlib.pyplot as plt

        it = self.history["iteration"]
        fig, (ax_loss, ax_acc) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
        marker = "o" if len(it) <= 60 else None  # a short run's few points stay visible
        ax_loss.plot(it, self.history[tags.D_LOSS], label="Discriminator loss", marker=marker, markersize=3)
        ax_loss.plot(it, self.history[tags.G_LOSS], label="Generator loss", marker=marker, markersize=3)
        ax_loss.set_ylabel("loss")
        ax_loss.set_title("Training loss")
        ax_loss.legend()
        ax_acc.plot(it, [100 * a for a in self.history[tags.D_ACCURACY]], label="Discriminator accuracy",
                    marker=marker, markersize=3, clip_on=False)
        ax_acc.set_ylabel("accuracy (%)")
        ax_acc.set_xlabel("iteration")
        ax_acc.set_title("Discriminator accuracy")
        ax_acc.set_ylim(0, 105)  # D often sits at 99-100%: above the top edge, not on it
        ax_acc.legend(loc="lower right")  # below a line that lives near 100%
        fig.tight_layout()
        try:
            return write_whole(self.path, lambda file: fig.savefig(file, format="png", dpi=100))
        finally:
            plt.close(fig)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # checkpoints from before the numbered tags name the curves by their former names
        self.history = {tags.FORMER.get(k, k): v for k, v in state_dict["history"].items()}
