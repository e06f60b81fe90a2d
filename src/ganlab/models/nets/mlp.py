"""The book's first nets ("GANs in Action", chapter 3): one hidden layer each."""

import math

import torch
from torch import nn

from ganlab.models.nets.init import keras_default_init, with_spectral_norm


class MLPGenerator(nn.Module):
    """z -> Dense(hidden) -> LeakyReLU -> Dense(28*28) -> tanh -> image [B, 1, 28, 28]."""

    def __init__(self, z_dim: int = 100, hidden: int = 128, negative_slope: float = 0.01,
                 img_shape: tuple[int, ...] = (1, 28, 28)):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden),
            nn.LeakyReLU(negative_slope),
            nn.Linear(hidden, math.prod(img_shape)),
            nn.Tanh(),
            nn.Unflatten(1, tuple(img_shape)),
        )
        self.apply(keras_default_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """image -> Flatten -> Dense(hidden) -> LeakyReLU -> Dense(1): a logit per image, shape [B].

    The book's D ends in a sigmoid; returning the logit and using BCE-with-logits is the same maths
    with a numerically safer loss.
    """

    def __init__(
        self,
        hidden: int = 128,
        negative_slope: float = 0.01,
        img_shape: tuple[int, ...] = (1, 28, 28),
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(img_shape), hidden),
            nn.LeakyReLU(negative_slope),
            nn.Linear(hidden, 1),
        )
        self.apply(keras_default_init)
        if spectral_norm:
            with_spectral_norm(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).squeeze(1)
