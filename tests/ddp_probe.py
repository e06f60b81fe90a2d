"""A callback that DDP tests add to a training subprocess (``+callbacks.probe``): each rank
records what it drew and ends with its weights, in ``<run>/probe_rank<r>.pt``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import lightning as L
import torch


class Probe(L.Callback):
    def __init__(self, path: str):
        self.path = Path(path)
        self.batches: list[float] = []
        self.noise_states: list[str] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        images, _ = batch
        self.batches.append(float(images.double().sum()))
        # the generator state the next iteration's noise comes from
        self.noise_states.append(hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest())

    def on_train_end(self, trainer, pl_module):
        state = {"batches": self.batches, "noise_states": self.noise_states, "step": trainer.global_step,
                 "world_size": trainer.world_size, "weights": {k: v.clone() for k, v in pl_module.state_dict().items()}}
        torch.save(state, self.path / f"probe_rank{trainer.global_rank}.pt")
