"""MNIST in [-1, 1], held in memory as one tensor, served as random batches like the book's code."""

from __future__ import annotations

import os
from typing import Iterator, Literal

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from ganlab.data.fetch import ensure_mnist
from ganlab.data.files import read_mnist
from ganlab.errors import UserError

TRAIN_IMAGES = 60_000  # MNIST's training split


def load_mnist(data_dir: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 [N, 28, 28], labels int64 [N]) of the train or test split, fetched on first use."""
    ensure_mnist(data_dir)
    return read_mnist(data_dir, split)


# x / 127.5 - 1 for each of the 256 pixel values, in float64 and then rounded once to float32, as
# the book's numpy does before Keras casts. Looking pixels up gives the same numbers as computing
# each one so, at less cost on 47 million of them (float32 arithmetic would round twice, and differ).
_SCALED = (np.arange(256, dtype=np.float64) / 127.5 - 1.0).astype(np.float32)


def scale_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [-1, 1], exactly as the book's code: x / 127.5 - 1."""
    return torch.from_numpy(_SCALED[images.cpu().numpy()]).unsqueeze(1).to(images.device)


class IndexBatches:
    """Batches of indices into the in-memory images, one per training iteration.

    ``replacement`` draws every batch independently (the book's ``np.random.randint``);
    ``shuffle`` walks a fresh permutation each epoch. An epoch is one pass's worth of batches.
    Under DDP each rank draws its own batches (``replacement``) or its own slice of the shared
    permutation (``shuffle``). Indices are drawn on ``device``, where the images are, so a GPU
    run neither copies batches nor waits for the host.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        sampling: str,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
    ):
        if batch_size * world_size > n:
            raise UserError(f"batch_size={batch_size} x {world_size} device(s) is more than the {n} images")
        self.n, self.batch_size, self.sampling = n, batch_size, sampling
        self.rank, self.world_size = rank, world_size
        # shuffle: all ranks share one permutation stream; replacement: each rank its own stream
        stream = seed if sampling == "shuffle" else seed * 1_000_003 + rank
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(stream)

    def __len__(self) -> int:
        return self.n // (self.batch_size * self.world_size)

    # Lightning saves and restores a loader with these in checkpoints, so a resumed run goes on
    # drawing from where the sampler stood instead of starting its stream again. Rank 0 writes the
    # checkpoint, so under DDP it holds every rank's state (gathered: every rank saves together).
    def state_dict(self) -> dict:
        state = self.generator.get_state()
        if self.world_size > 1:
            states = [None] * self.world_size
            dist.all_gather_object(states, state)
            return {"generators": states}
        return {"generator": state}

    def load_state_dict(self, state: dict) -> None:
        if "generators" in state and len(state["generators"]) == self.world_size:
            self.generator.set_state(state["generators"][self.rank])
        elif "generator" in state and self.world_size == 1:
            self.generator.set_state(state["generator"])
        else:
            saved = len(state.get("generators", [0]))
            rank_zero_warn(
                f"the checkpoint's data sampler ran in {saved} process(es), this run in {self.world_size}: "
                "each rank starts its batches from its own seed again"
            )

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.sampling == "replacement":
            for _ in range(len(self)):
                yield torch.randint(self.n, (self.batch_size,), generator=self.generator, device=self.device)
        else:
            perm = torch.randperm(self.n, generator=self.generator, device=self.device)
            span = self.batch_size * self.world_size
            for i in range(len(self)):
                start = i * span + self.rank * self.batch_size
                yield perm[start : start + self.batch_size]


class MNISTDataModule(L.LightningDataModule):
    """The 60,000 MNIST training images scaled to [-1, 1].

    The loader yields index batches; ``transfer_batch_to_device`` gathers them from a copy of the
    images kept on the training device, so a GPU run copies the data once, not every step.
    Batches are ``(images [B * k, 1, 28, 28], labels [B * k])`` for ``k = batches_per_iteration``
    (the discriminator steps of one iteration, each on its own real batch).
    """

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: int = 128,
        sampling: Literal["replacement", "shuffle"] = "replacement",
        seed: int = 0,
        batches_per_iteration: int = 1,
    ):
        super().__init__()
        if sampling not in ("replacement", "shuffle"):
            raise UserError(f"data.sampling={sampling!r}: use 'replacement' (the book's) or 'shuffle'")
        if not 1 <= batch_size <= TRAIN_IMAGES:
            raise UserError(f"data.batch_size={batch_size}: give 1 to {TRAIN_IMAGES:,} images "
                            f"(MNIST has {TRAIN_IMAGES:,})")
        if batches_per_iteration < 1:
            raise UserError(f"model.d_steps_per_iteration={batches_per_iteration}: it must be at least 1")
        self.save_hyperparameters(logger=False)
        self.images: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self._resident: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def prepare_data(self) -> None:
        ensure_mnist(self.hparams.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.images is None:
            images, self.labels = load_mnist(self.hparams.data_dir, "train")
            self.images = scale_pixels(images)

    def train_dataloader(self) -> IndexBatches:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        device = trainer.strategy.root_device if trainer else torch.device("cpu")
        hp = self.hparams
        per_iteration = hp.batch_size * hp.batches_per_iteration
        return IndexBatches(len(self.images), per_iteration, hp.sampling, hp.seed, rank, world, device)

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        if not isinstance(batch, torch.Tensor) or batch.dtype != torch.int64:
            return super().transfer_batch_to_device(batch, device, dataloader_idx)
        if device not in self._resident:
            self._resident[device] = (self.images.to(device), self.labels.to(device))
        images, labels = self._resident[device]
        index = batch.to(device, non_blocking=True)
        # index_select copies whole rows; images[index] goes through the general indexing
        # kernel, several times slower on a CPU (benchmarks/README.md)
        return images.index_select(0, index), labels.index_select(0, index)

    def teardown(self, stage: str | None = None) -> None:
        self._resident.clear()
