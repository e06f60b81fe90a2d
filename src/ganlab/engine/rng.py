"""The random state a checkpoint carries, so that a resumed run draws the noise it would have drawn.

The noise z comes from torch's global generators; the data sampler keeps its own generator, which
Lightning saves with the loader's state (data/mnist_datamodule.py).
"""

from __future__ import annotations

import lightning as L
import torch


def capture() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict, trainer: L.Trainer) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if trainer.world_size > 1:
        # rank 0 saved its state; every rank draws its own noise from here on
        torch.manual_seed(int(torch.randint(2**62, (1,))) + trainer.global_rank)
