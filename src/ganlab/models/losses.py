"""GAN losses on discriminator logits, split the way the training step uses them.

``real(logits)`` and ``fake(logits)`` are D's losses on real and generated batches (kept apart
because the seed updates D on each separately); ``generator(logits)`` is G's loss on D's logits
for generated images.
"""

import torch
import torch.nn.functional as F


class NonSaturatingLoss:
    """The seed's binary cross-entropy: D labels real 1 and fake 0; G wants D to say 1 on fakes."""

    def real(self, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def fake(self, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))

    def generator(self, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
