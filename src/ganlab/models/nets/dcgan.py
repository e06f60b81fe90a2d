"""The book's chapter-4 DCGAN: transposed convolutions up from 7x7, strided convolutions down."""

from __future__ import annotations

import torch
from torch import nn

from ganlab.models.nets.init import keras_default_init, with_spectral_norm


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    # Keras' BatchNormalization defaults: momentum 0.99 (torch counts 1 - that) and epsilon 1e-3
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MinibatchStd(nn.Module):
    """Appends one feature map: the standard deviation of each feature over the batch, averaged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spread = x.std(dim=0, unbiased=False).mean() if len(x) > 1 else x.new_zeros(())
        return torch.cat([x, spread.expand(len(x), 1, *x.shape[2:])], dim=1)


class DCGANGenerator(nn.Module):
    """z -> Dense(7x7x256) -> ConvT 3x3 s2 (14x14x128) -> ConvT 3x3 s1 (14x14x64) -> ConvT 3x3 s2
    (28x28x1) -> tanh, with batch norm and LeakyReLU between.

    ``channels`` is the last hidden layer's width (the book's 64); the others are 2x and 4x it.
    Narrower nets cost about the square less, which is what makes a CPU recipe possible.
    """

    def __init__(self, z_dim: int = 100, negative_slope: float = 0.01, channels: int = 64):
        super().__init__()
        self.z_dim = z_dim
        c = channels
        self.net = nn.Sequential(
            nn.Linear(z_dim, 4 * c * 7 * 7),
            nn.Unflatten(1, (4 * c, 7, 7)),
            # padding/output_padding reproduce Keras' padding="same": stride 2 doubles the size
            nn.ConvTranspose2d(4 * c, 2 * c, 3, stride=2, padding=1, output_padding=1),
            _batch_norm(2 * c),
            nn.LeakyReLU(negative_slope),
            nn.ConvTranspose2d(2 * c, c, 3, stride=1, padding=1),
            _batch_norm(c),
            nn.LeakyReLU(negative_slope),
            nn.ConvTranspose2d(c, 1, 3, stride=2, padding=1, output_padding=1),
            nn.Tanh(),
        )
        self.apply(keras_default_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """image -> Conv 3x3 s2 (32) -> Conv 3x3 s2 (64) -> Conv 3x3 s2 (128) -> flatten -> one logit,
    LeakyReLU after each conv and batch norm on the last two.

    ``channels`` is the first conv's width (the book's 32); the next two are 2x and 4x it.
    ``batch_norm=False`` drops the batch norm (WGAN-GP's penalty is per sample, which batch norm
    breaks); ``spectral_norm=True`` bounds each layer's Lipschitz constant (Miyato et al. 2018);
    ``minibatch_std=True`` hands the last layer how much the batch varies (Karras et al. 2018), so D
    can tell a batch of near-copies from real variety.
    """

    def __init__(
        self,
        in_channels: int = 1,
        negative_slope: float = 0.01,
        batch_norm: bool = True,
        spectral_norm: bool = False,
        channels: int = 32,
        minibatch_std: bool = False,
    ):
        super().__init__()

        def block(c_in: int, c_out: int, norm: bool) -> list[nn.Module]:
            layers = [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)]
            return layers + ([_batch_norm(c_out)] if norm and batch_norm else []) + [nn.LeakyReLU(negative_slope)]

        c = channels
        self.net = nn.Sequential(
            *block(in_channels, c, norm=False),  # 14x14
            *block(c, 2 * c, norm=True),  # 7x7
            *block(2 * c, 4 * c, norm=True),  # 4x4
            *([MinibatchStd()] if minibatch_std else []),
            nn.Flatten(),
            nn.Linear((4 * c + minibatch_std) * 4 * 4, 1),
        )
        self.apply(keras_default_init)
        if spectral_norm:
            with_spectral_norm(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).squeeze(1)
