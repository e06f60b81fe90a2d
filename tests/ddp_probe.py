"""A callback that DDP tests add to a training subprocess (``+callbacks.probe``): each rank
records what it drew and ends with its weights, in ``<run>/probe_rank<r>.pt``."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import lightning as L
import torch


class Probe(L.Callback):
    """``sleep``: seconds added to each iteration, so a test can signal a run mid-way."""

    def __init__(self, path: str, sleep: float = 0.0):
        self.path, self.sleep = Path(path), sleep
        self.batches: list[float] = []
        self.noise_states: list[str] = []
        self.logged_d_loss: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        images, _ = batch
        self.batches.append(float(images.double().sum()))
        # the generator state the next iteration's noise comes from
        self.noise_states.append(hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest())
        if trainer.global_step % trainer.log_every_n_steps == 0:
            self.logged_d_loss.append(float(trainer.callback_metrics["1_losses/d_loss"]))
        time.sleep(self.sleep)

    def on_train_end(self, trainer, pl_module):
        state = {"batches": self.batches, "noise_states": self.noise_states, "step": trainer.global_step,
                 "logged_d_loss": self.logged_d_loss,
                 "world_size": trainer.world_size, "weights": {k: v.clone() for k, v in pl_module.state_dict().items()}}
        torch.save(state, self.path / f"probe_rank{trainer.global_rank}.pt")
