"""The book's chapter-8 conditional GAN: both players are told which digit is meant."""

from __future__ import annotations

import torch
from torch import nn

from ganlab.errors import UserError
from ganlab.models.nets.dcgan import DCGANDiscriminator, DCGANGenerator


class CGANGenerator(nn.Module):
    """(z, digit) -> the DCGAN generator applied to z * embedding(digit), as the book joins them.

    ``join="concat"`` hands it [z, embedding(digit)] instead (a 10-wide embedding, as PyTorch-GAN's
    CGAN does): the digit can no longer scale any of z's dimensions down to nothing.
    """

    def __init__(
        self,
        z_dim: int = 100,
        num_classes: int = 10,
        negative_slope: float = 0.01,
        channels: int = 64,
        join: str = "multiply",
    ):
        super().__init__()
        if join not in ("multiply", "concat"):
            raise UserError(f"model.generator.join={join!r}: use multiply (the book's) or concat")
        self.z_dim, self.num_classes, self.join = z_dim, num_classes, join
        concat = join == "concat"
        self.label_embedding = nn.Embedding(num_classes, num_classes if concat else z_dim)
        self.body = DCGANGenerator(z_dim + num_classes if concat else z_dim, negative_slope, channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.join == "concat":
            return self.body(torch.cat([z, self.label_embedding(labels)], dim=1))
        return self.body(z * self.label_embedding(labels))


class CGANDiscriminator(nn.Module):
    """(image, digit) -> a logit: the digit's embedding becomes a second 28x28 channel of the image,
    as in the book, and a DCGAN discriminator judges the pair."""

    def __init__(
        self,
        num_classes: int = 10,
        negative_slope: float = 0.01,
        batch_norm: bool = True,
        spectral_norm: bool = False,
        channels: int = 32,
        minibatch_std: bool = False,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.label_embedding = nn.Sequential(nn.Embedding(num_classes, 28 * 28), nn.Unflatten(1, (1, 28, 28)))
        self.body = DCGANDiscriminator(2, negative_slope, batch_norm, spectral_norm, channels, minibatch_std)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([images, self.label_embedding(labels)], dim=1))
