"""The random state a checkpoint carries, so that a resumed run draws the noise it would have drawn.

The noise z comes from torch's global generators; the data sampler keeps its own generator, which
Lightning saves with the loader's state (data/mnist.py). Under DDP every rank draws its
own noise: its stream is split off the seeded one when training starts (``split_by_rank``), and a
checkpoint holds every rank's state, so a resumed run goes on with each rank's own stream.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.distributed as dist


def capture(trainer: L.Trainer | None = None) -> dict:
    """This process's random state; under DDP every rank's (a collective call: all ranks make it)."""
    state = _local_state()
    if trainer is not None and trainer.world_size > 1:
        return {"ranks": gather(state)}
    return state


def restore(state: dict, trainer: L.Trainer) -> None:
    if "ranks" not in state:
        _set(state)
        if trainer.world_size > 1:  # a one-process checkpoint resumed on several
            split_by_rank(trainer)
    elif len(state["ranks"]) == trainer.world_size:
        _set(state["ranks"][trainer.global_rank])
    else:  # saved by another number of processes: each rank splits a stream of its own off rank 0's
        _set(state["ranks"][0])
        split_by_rank(trainer)


def split_by_rank(trainer: L.Trainer) -> None:
    """Gives each rank a noise stream of its own, derived from the (seeded, shared) current one."""
    base = int(torch.randint(2**62, (1,)))  # the same draw on every rank
    torch.manual_seed(base + trainer.global_rank)


def gather(obj) -> list:
    """``obj`` of every rank, in rank order (torch.distributed; a collective call)."""
    objs = [None] * dist.get_world_size()
    dist.all_gather_object(objs, obj)
    return objs


def _local_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
