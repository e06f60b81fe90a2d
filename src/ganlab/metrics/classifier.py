"""The MNIST classifier the sample quality metrics measure with, and how it is trained."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.errors import UserError


class MNISTClassifier(nn.Module):
    """[N, 1, 28, 28] in [-1, 1] -> 10 logits, through 128 penultimate features.

    Kept small (under 2M multiply-adds per image) so it trains to >= 99% in a minute or two on
    two CPU cores; batch norm is what lets Adam get there in a few epochs.
    """

    num_features = 128  # torchmetrics' FID reads the feature size from this attribute

    def __init__(self, dropout: float = 0.2):
        super().__init__()

        def conv(c_in: int, c_out: int, padding: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.body = nn.Sequential(
            *conv(1, 16, padding=1), nn.MaxPool2d(2),  # 14x14
            *conv(16, 32, padding=1), nn.MaxPool2d(2),  # 7x7
            *conv(32, 64, padding=0),  # 5x5
            nn.Flatten(),
            nn.Linear(64 * 5 * 5, self.num_features, bias=False),
            nn.BatchNorm1d(self.num_features),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.num_features, 10))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The penultimate activations [N, 128], the space FID and precision/recall work in."""
        return self.body(images)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits [N, 10] from features(), so one pass over the images gives both."""
        return self.head(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(images))


@dataclass(frozen=True)
class TrainingSettings:
    """How the evaluator is trained; stored in the cache's metadata. The defaults are production's."""

    epochs: int = 3
    batch_size: int = 128
    max_lr: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 0.0
    max_shift: int = 0  # random shifts of up to this many pixels; 0 turns augmentation off
    train_subset: int | None = None  # train on this many (seeded) training images; None: all 60,000
    seed: int = 0


def fit_classifier(
    images: torch.Tensor, labels: torch.Tensor, settings: TrainingSettings, device: str | torch.device = "cpu"
) -> MNISTClassifier:
    """Trains a fresh classifier on ``images`` [N, 1, 28, 28] in [-1, 1]; returns it in eval mode.

    A plain loop rather than a Lightning Trainer: the data is one in-memory tensor, there is
    nothing to log or checkpoint, and the evaluator may be trained from inside a running
    Lightning fit (a callback), where a nested Trainer would fight the outer one.
    """
    device = torch.device(device)
    cuda = [device.index or 0] if device.type == "cuda" else []
    # The caller's random state stays as it was: only this function's own seed decides the result.
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(settings.seed)
        batches = torch.Generator().manual_seed(settings.seed)
        if settings.train_subset is not None:
            keep = torch.randperm(len(images), generator=batches)[: settings.train_subset]
            images, labels = images[keep], labels[keep]
        images, labels = images.to(device), labels.to(device)
        model = MNISTClassifier().to(device)
        steps_per_epoch = len(images) // settings.batch_size
        if steps_per_epoch < 1:
            raise UserError(f"{len(images)} training images are fewer than one batch of {settings.batch_size}")
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.max_lr, weight_decay=settings.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=settings.max_lr, total_steps=settings.epochs * steps_per_epoch
        )
        model.train()
        for _ in range(settings.epochs):
            order = torch.randperm(len(images), generator=batches).to(device)
            for step in range(steps_per_epoch):
                idx = order[step * settings.batch_size : (step + 1) * settings.batch_size]
                x = random_shift(images[idx], settings.max_shift, batches)
                loss = F.cross_entropy(model(x), labels[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    return model.eval()


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Moves each image by up to ``max_shift`` pixels in x and y, filling with background (-1).

    torchvision's RandomAffine draws one shift per call, i.e. per batch; this draws one per image.
    """
    if max_shift == 0:
        return images
    n, device = len(images), images.device
    padded = F.pad(images[:, 0], (max_shift,) * 4, value=-1.0)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator).to(device)
    rows = (dy + torch.arange(28, device=device))[:, :, None]
    cols = (dx + torch.arange(28, device=device))[:, None, :]
    return padded[torch.arange(n, device=device)[:, None, None], rows, cols].unsqueeze(1)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(images[start : start + batch_size].to(device))
        correct += int((logits.argmax(1).cpu() == labels[start : start + batch_size]).sum())
    return correct / len(images)
