"""GAN losses on discriminator logits, split the way the training step uses them.

``real(logits)`` and ``fake(logits)`` are D's losses on real and generated batches (kept apart
because the book updates D on each separately); ``generator(logits)`` is G's loss on D's logits
for generated images; ``penalty(...)`` is an extra term of D's loss that needs both batches
(WGAN-GP's alone: ``has_penalty``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganlab import tags
from ganlab.errors import UserError


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class GANLoss:
    """What every loss provides. Most have no penalty and allow the book's separate D updates.

    How D's outputs read: ``threshold``, the output above which D calls an image real (None: D
    scores, it does not decide, as WGAN's critic), and ``probability``, whether the output is a
    logit whose sigmoid is D's probability that an image is real (the BCE of the book).
    """

    has_penalty = False
    threshold: float | None = 0.0
    probability = False

    def real(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fake(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(self, discriminator: Callable, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no penalty")

    def check(self, d_update: str, discriminator: nn.Module) -> None:
        """Refuses settings this loss cannot train with, before training starts."""
        if not self.has_penalty:
            return
        name = type(self).__name__
        if d_update != "joint":
            raise UserError(
                f"{name} needs model.d_update=joint: its penalty mixes real and fake batches "
                "(experiment=wgan_gp sets up the whole recipe)"
            )
        if any(isinstance(m, BATCH_NORMS) for m in discriminator.modules()):
            raise UserError(
                f"{name}'s gradient penalty is per image, and batch norm in D mixes the images of a batch: "
                "set model.discriminator.batch_norm=false (experiment=wgan_gp does)"
            )


class NonSaturatingLoss(GANLoss):
    """The book's binary cross-entropy: D labels real 1 and fake 0; G wants D to say 1 on fakes
    (Goodfellow et al. 2014's non-saturating generator loss)."""

    probability = True  # sigmoid(logit) = D's probability of "real"; threshold 0 is probability 0.5

    def real(self, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def fake(self, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))

    def generator(self, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


class HingeLoss(GANLoss):
    """D: max(0, 1 - D(x)) + max(0, 1 + D(G(z))); G: -D(G(z)) (Lim & Ye 2017; SN-GAN, BigGAN)."""

    def real(self, logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - logits).mean()

    def fake(self, logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 + logits).mean()

    def generator(self, logits: torch.Tensor) -> torch.Tensor:
        return -logits.mean()


class LeastSquaresLoss(GANLoss):
    """LSGAN (Mao et al. 2017), targets 1 for real and 0 for fake: D: (D(x) - 1)^2 + D(G(z))^2,
    G: (D(G(z)) - 1)^2, each halved."""

    threshold = 0.5  # halfway between the targets

    def real(self, logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (logits - 1).pow(2).mean()

    def fake(self, logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * logits.pow(2).mean()

    def generator(self, logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (logits - 1).pow(2).mean()


class WassersteinGPLoss(GANLoss):
    """WGAN-GP (Gulrajani et al. 2017): the critic maximises D(x) - D(G(z)), with the penalty
    weight * E[(||grad D(x_hat)||_2 - 1)^2] at random points x_hat between real and fake images.

    The penalty needs a real and a fake batch at once, hence ``model.d_update: joint``; the paper
    trains the critic 5 times per generator step (``model.d_steps_per_iteration: 5``) with Adam
    lr 1e-4, betas (0, 0.9), and no batch norm in the critic.
    """

    has_penalty = True
    threshold = None  # a critic's score is no verdict: no accuracy or confusion matrix

    def __init__(self, gp_weight: float = 10.0):
        self.gp_weight = gp_weight

    def real(self, logits: torch.Tensor) -> torch.Tensor:
        return -logits.mean()

    def fake(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.mean()

    def generator(self, logits: torch.Tensor) -> torch.Tensor:
        return -logits.mean()

    def penalty(self, discriminator: Callable, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        mixed = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
        (grads,) = torch.autograd.grad(discriminator(mixed).sum(), mixed, create_graph=True)
        return self.gp_weight * (grads.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def statistics(loss: GANLoss, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """What D's outputs on a real and a fake batch say, in the loss's own terms: the book's accuracy
    and chapter 3.2.2's confusion matrix (real is the positive class) at the loss's threshold, and
    D's mean probability of "real" (``D(x)``, ``D(G(z))``) where its output is a logit, else its
    mean raw output (``D_output(x)``, ``D_output(G(z))``)."""
    stats = {}
    if loss.threshold is not None:
        true_pos = (real > loss.threshold).float().mean()
        false_pos = (fake > loss.threshold).float().mean()
        stats.update({
            # the book's accuracy: mean of Keras' binary accuracy on the real and fake batches
            tags.D_ACCURACY: (true_pos + 1 - false_pos) / 2,
            tags.TRUE_POSITIVE: true_pos,
            tags.FALSE_NEGATIVE: 1 - true_pos,
            tags.TRUE_NEGATIVE: 1 - false_pos,
            tags.FALSE_POSITIVE: false_pos,
        })
    if loss.probability:
        stats.update({tags.D_REAL: torch.sigmoid(real).mean(), tags.D_FAKE: torch.sigmoid(fake).mean()})
    else:
        stats.update({tags.D_OUTPUT_REAL: real.mean(), tags.D_OUTPUT_FAKE: fake.mean()})
    return stats
