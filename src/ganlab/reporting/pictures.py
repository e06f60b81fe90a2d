"""Grids of samples big enough to judge: scaled up without blurring, rows labelled by digit, and
GIF frames that say their iteration. Used for the run's grids and GIF and by generate.py."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

from ganlab.whole_files import RUN_FIX, write_whole

log = logging.getLogger(__name__)

MIN_WIDTH = 512  # pixels: a 4x4 grid of 28-pixel digits comes out 5x (610 px), a 10x10 one 2x (604 px)


def grid_image(images: torch.Tensor, nrow: int, row_labels: Sequence[str] | None = None,
               min_width: int = MIN_WIDTH) -> Image.Image:
    """Images in [-1, 1] as a grid of ``nrow`` a row, each pixel repeated (nearest neighbour) until
    the grid is at least ``min_width`` wide, with ``row_labels`` in a margin on the left."""
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)
    pixels = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    scale = max(1, math.ceil(min_width / pixels.shape[1]))
    picture = Image.fromarray(np.ascontiguousarray(pixels)).resize(
        (pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
    if not row_labels:
        return picture
    font = _font(14 * scale)
    margin = int(font.getlength("0" * max(len(label) for label in row_labels))) + 8 * scale
    labelled = Image.new("RGB", (picture.width + margin, picture.height), "white")
    labelled.paste(picture, (margin, 0))
    draw = ImageDraw.Draw(labelled)
    row_height = picture.height / math.ceil(len(images) / nrow)
    for row, label in enumerate(row_labels):
        draw.text((4 * scale, (row + 0.5) * row_height), label, fill="black", font=font, anchor="lm")
    return labelled


def with_caption(picture: Image.Image, caption: str) -> Image.Image:
    """``picture`` under a white strip that reads ``caption`` (a GIF frame's iteration)."""
    font = _font(max(14, picture.width // 24))
    strip = int(font.size * 1.6)
    framed = Image.new("RGB", (picture.width, picture.height + strip), "white")
    framed.paste(picture.convert("RGB"), (0, strip))
    ImageDraw.Draw(framed).text((picture.width / 2, strip / 2), caption, fill="black", font=font, anchor="mm")
    return framed


def animate(frames: Sequence[Path], path: Path, seconds_per_frame: float = 0.25, fix: str = RUN_FIX) -> Path | None:
    """``frames`` (``iter_NNNNNN.png`` files) as a looping GIF, each frame captioned with its iteration;
    written whole or not at all (``fix``: what the line says to do if it cannot be)."""
    numbered = []
    for frame in frames:
        iteration = frame.stem.removeprefix("iter_")
        if iteration.isdigit():
            numbered.append((int(iteration), frame))
        else:  # e.g. a copy someone saved beside the grids
            log.warning("The GIF leaves out %s: it is not one of the run's grids (iter_NNNNNN.png)", frame)
    images = []
    for iteration, frame in sorted(numbered):  # by number: a run past 999999 iterations outgrows the padding
        try:
            with Image.open(frame) as picture:
                picture.load()
                images.append(with_caption(picture, f"iteration {iteration:,}").convert("P"))
        except (OSError, ValueError) as damaged:  # e.g. a file a full disk or a kill left empty
            log.warning("The GIF leaves out %s: it is not a readable picture (%s)", frame, damaged)
    if not images:
        return None
    return write_whole(path, lambda file: images[0].save(file, format="GIF", save_all=True, append_images=images[1:],
                                                         duration=int(seconds_per_frame * 1000), loop=0), fix)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 ships a scalable default font
    except TypeError:
        return ImageFont.load_default()
