"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): D judges real and fake images
through the same random translation and cutout, and G's gradient flows back through them.

Written here rather than taken from a library: the paper's reference code is a script, not a
package, and its two MNIST-relevant transforms are a few lines of indexing. Draws come from
torch's global generator, which checkpoints carry (checkpoints/random_state.py), so a resumed run
augments as an uninterrupted one would.
"""

from __future__ import annotations

import torch

from ganlab.errors import UserError

POLICIES = ("translation", "cutout")
BACKGROUND = -1.0  # MNIST's background in [-1, 1]: shifted-in pixels and cut-out squares are blank paper


def diff_augment(images: torch.Tensor, policy: list[str] | tuple[str, ...]) -> torch.Tensor:
    for name in policy:
        images = _TRANSFORMS[name](images)
    return images


def check_policy(policy) -> None:
    unknown = [p for p in policy if p not in POLICIES]
    if unknown:
        raise UserError(f"model.augment={list(policy)}: unknown {unknown}; choose from {list(POLICIES)}, or null")


def translation(images: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shifts each image by up to ``ratio`` of its size in x and y (the paper's 1/8)."""
    n, _, h, w = images.shape
    s = int(h * ratio + 0.5)
    shift = torch.randint(-s, s + 1, (2, n, 1, 1), device=images.device)
    rows = (torch.arange(h, device=images.device).view(1, h, 1) + shift[0] + s).expand(n, h, w)
    cols = (torch.arange(w, device=images.device).view(1, 1, w) + shift[1] + s).expand(n, h, w)
    padded = torch.nn.functional.pad(images, (s, s, s, s), value=BACKGROUND)
    batch = torch.arange(n, device=images.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(images: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Blanks one square of ``ratio`` of the image's size per image, at a random centre."""
    n, _, h, w = images.shape
    size = int(h * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=images.device) - size // 2  # the paper's centres: anywhere
    left = torch.randint(0, w, (n, 1, 1), device=images.device) - size // 2
    y = torch.arange(h, device=images.device).view(1, h, 1)
    x = torch.arange(w, device=images.device).view(1, 1, w)
    inside = (y >= top) & (y < top + size) & (x >= left) & (x < left + size)
    return torch.where(inside.unsqueeze(1), torch.full_like(images, BACKGROUND), images)


_TRANSFORMS = {"translation": translation, "cutout": cutout}
