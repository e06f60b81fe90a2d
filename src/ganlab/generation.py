"""Draw images from a trained generator and write them as a PNG grid or a .npy array."""

from __future__ import annotations

import io
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ganlab.errors import UserError
from ganlab.models import GAN
from ganlab.reporting.pictures import grid_image
from ganlab.whole_files import write_whole

GRID_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}  # PIL's names
GRID_SUFFIXES = tuple(GRID_FORMATS)
MAX_GRID_IMAGES = 10_000  # beyond this a grid is an unreadable multi-megapixel image
FIX = "Free some space, or give out= a path on a disk that has it"  # when a file cannot be written


def check_request(n, digit, out, batch_size: int = 1000) -> None:
    """What can be checked before a checkpoint is loaded: ``n``, ``digit``, ``out`` and ``batch_size``."""
    if not _is_whole(n) or n < 1:
        raise UserError(f"n={n!r}: ask for a positive whole number of images, e.g. n=64")
    if digit is not None and not _is_whole(digit):
        raise UserError(f"digit={digit!r}: give a digit as a number from 0 to 9, e.g. digit=7")
    if not _is_whole(batch_size) or batch_size < 1:
        raise UserError(f"batch_size={batch_size!r}: generate a positive whole number of images at a time, e.g. 1000")
    _check_out(out, n)


def _check_out(out, n: int, labelled: bool = False) -> str:
    suffix = Path(str(out)).suffix.lower()
    if suffix not in GRID_SUFFIXES + (".npy",):
        raise UserError(f"out={out}: end it in .png (a grid of images) or .npy (the raw samples)")
    if suffix in GRID_SUFFIXES and n > MAX_GRID_IMAGES:
        raise UserError(f"n={n} is too many for one grid image; use out=<name>.npy for the raw samples")
    folder = Path(str(out)).resolve().parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserError(f"out={out}: {existing} is a file, so it cannot hold a folder; give another path")
    if existing is not None and not os.access(existing, os.W_OK):
        raise UserError(f"out={out}: {existing} cannot be written; give a path in a folder you can write")
    if suffix == ".npy" and existing is not None:  # its size is known: one that cannot fit is refused now
        size = npy_bytes((n, 28, 28), "<f4") + (npy_bytes((n,), "<i8") if labelled else 0)
        free = shutil.disk_usage(existing).free
        if size > free:
            raise UserError(f"out={out}: {n:,} images take {size:,} bytes, but {Path(str(out)).parent} has {free:,} "
                            "bytes free. Free some space, or give out= a path on a disk that has room")
    return suffix


def npy_bytes(shape: tuple[int, ...], dtype: str) -> int:
    """The exact size of an .npy file of this shape and dtype: its header, then the values."""
    return len(_npy_header(shape, dtype)) + math.prod(shape) * np.dtype(dtype).itemsize


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    return header.getvalue()


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def generate(model: GAN, n: int, seed: int = 0, batch_size: int = 1000, digit: int | None = None,
             shuffled: bool = False) -> torch.Tensor:
    """``n`` images [n, 1, 28, 28] in [-1, 1], on the CPU; the same seed gives the same images.

    A conditional GAN draws ``digit`` (0-9), or all ten digits in equal shares when it is None:
    in order (a grid's rows), or ``shuffled`` (``digits(...)`` says which image is which).
    """
    if not _is_whole(n) or n < 1:
        raise UserError(f"n={n!r}: ask for a positive whole number of images, e.g. n=64")
    labels = digits(model, n, digit, seed, shuffled)
    return model.sample(n=n, seed=seed, labels=labels, batch_size=batch_size).float().cpu()


def grid_of(model: GAN, n: int, seed: int = 0, batch_size: int = 1000, digit: int | None = None,
            nrow: int | None = None) -> tuple[torch.Tensor, int, list[str] | None]:
    """New digits for a grid, with its row length and row labels: a conditional GAN asked for no
    digit (and no row length) draws one row per digit, ``n`` rounded up to fill the rows."""
    if model.num_classes and digit is None and nrow is None:
        per_row = math.ceil(n / model.num_classes)
        images = generate(model, per_row * model.num_classes, seed=seed, batch_size=batch_size)
        return images, per_row, [str(d) for d in range(model.num_classes)]
    images = generate(model, n, seed=seed, batch_size=batch_size, digit=digit)
    return images, nrow or math.ceil(math.sqrt(n)), None


def interpolation(model: GAN, rows: int, steps: int, seed: int = 0, digit: int | None = None) -> torch.Tensor:
    """``rows`` walks of ``steps`` images each ([rows * steps, 1, 28, 28], row by row): G's images
    along the great circle between two random noise vectors (spherical interpolation, which keeps
    the norm a Gaussian z has, where a straight line would pass through unlikely short vectors).
    A conditional GAN keeps one digit along a row: ``digit``, or 0-9 row by row."""
    for name, value, least in (("n", rows, 1), ("interpolate", steps, 2)):
        if not _is_whole(value) or value < least:
            raise UserError(f"{name}={value!r}: give a whole number, at least {least}")
    rng = torch.Generator().manual_seed(seed)
    start, end = torch.randn(rows, model.z_dim, generator=rng), torch.randn(rows, model.z_dim, generator=rng)
    t = torch.linspace(0, 1, steps)[None, :, None]
    z = slerp(start[:, None], end[:, None], t).reshape(rows * steps, model.z_dim)
    labels = digits(model, rows, digit)  # also refuses a digit for an unconditional GAN
    if labels is not None and digit is None:
        labels = torch.arange(rows) % model.num_classes  # row r draws digit r (mod 10), even for few rows
    if labels is not None:
        labels = labels.repeat_interleave(steps)
    return model.sample(z=z, labels=labels).float().cpu()


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    cos = (a / a.norm(dim=-1, keepdim=True) * b / b.norm(dim=-1, keepdim=True)).sum(-1, keepdim=True)
    omega = torch.arccos(cos.clamp(-1, 1))
    sin = torch.sin(omega)
    if bool((sin.abs() < 1e-6).any()):  # (anti)parallel vectors: the straight line is as good
        return (1 - t) * a + t * b
    return torch.sin((1 - t) * omega) / sin * a + torch.sin(t * omega) / sin * b


def stream_npy(model: GAN, n: int, out: str | os.PathLike, seed: int = 0, batch_size: int = 1000,
               digit: int | None = None) -> Path:
    """``write_images(generate(model, n, ..., shuffled=True), out)`` for an .npy, drawn and written
    batch by batch: memory holds a batch of noise and images whatever ``n`` is, so any ``n`` whose
    file fits on the disk works (one that does not fit is refused before anything is drawn). A
    conditional GAN's digits come in random order (a tool that splits samples in order must not get
    1000 zeros first) and are saved beside them, ``<out>.labels.npy``.

    On the CPU these are ``generate``'s very images (``noise_batches``); on a GPU the same seed
    gives the same file every time, but not ``generate``'s images."""
    out = Path(out)
    if _check_out(out, n) != ".npy":
        raise UserError(f"out={out}: stream_npy writes .npy files")
    labels = digits(model, n, digit, seed, shuffled=True)
    if labels is not None:
        _check_out(out, n, labelled=True)
        _save_npy(labels.cpu().numpy().astype(np.int64), labels_path(out))
        labels = labels.to(model.device)

    def write(file) -> None:
        file.write(_npy_header((n, 28, 28), "<f4"))
        done = 0
        for z in noise_batches(model, n, seed, batch_size):
            batch = model.sample(z, labels=None if labels is None else labels[done : done + len(z)],
                                 batch_size=batch_size)
            file.write(batch.squeeze(1).float().cpu().numpy().astype("<f4", copy=False).tobytes())
            done += len(z)

    return write_whole(out, write, FIX)


def noise_batches(model: GAN, n: int, seed: int, batch_size: int) -> Iterator[torch.Tensor]:
    """The noise ``model.sample(n=n, seed=seed)`` draws, ``batch_size`` rows at a time (the images
    of a batch depend on the batch's size in the last bits, so the batches are sample()'s too).
    Drawn in blocks of whole 16 rows: torch's CPU sampler fills 16 values at a time, so on the CPU
    the blocks are exactly one draw of all n (a last block of fewer than 16 values would come out
    otherwise, so it is drawn with the block before it)."""
    rng = torch.Generator(device=model.device).manual_seed(seed)
    block = -(-batch_size // 16) * 16
    pending, drawn = torch.empty(0, model.z_dim, device=model.device), 0
    while drawn < n or len(pending):
        while len(pending) < batch_size and drawn < n:
            count = n - drawn if (n - drawn - block) * model.z_dim < 16 else block
            pending = torch.cat([pending, torch.randn(count, model.z_dim, generator=rng, device=model.device)])
            drawn += count
        yield pending[:batch_size]
        pending = pending[batch_size:]


def labels_path(out: str | os.PathLike) -> Path:
    """Where a conditional GAN's .npy samples keep their digits: ``x.npy`` -> ``x.labels.npy``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.labels.npy")


def digits(model: GAN, n: int, digit: int | None, seed: int = 0, shuffled: bool = False) -> torch.Tensor | None:
    """The digits a conditional GAN draws (None for an unconditional one): ``digit`` n times, or
    0-9 in equal shares, in order or shuffled (from ``seed``)."""
    if digit is None:
        if not model.num_classes:
            return None
        labels = model.balanced_labels(n).cpu()
        if shuffled:
            labels = labels[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]
        return labels
    if not model.num_classes:
        raise UserError(f"digit={digit}: this checkpoint's GAN is not conditional (train with model=cgan)")
    if not 0 <= digit < model.num_classes:
        raise UserError(f"digit={digit}: ask for a digit from 0 to {model.num_classes - 1}")
    return torch.full((n,), digit, dtype=torch.long)


def _save_npy(array: np.ndarray, out: Path) -> Path:
    return write_whole(out, lambda file: np.save(file, array), FIX)


def write_images(images: torch.Tensor, out: str | os.PathLike, nrow: int | None = None,
                 row_labels: list[str] | None = None) -> Path:
    """A grid image for .png/.jpg, or an [N, 28, 28] float32 array in [-1, 1] for .npy.

    Written whole or not at all (``write_whole``): a failure never leaves a half-written file.
    """
    out = Path(out)
    suffix = _check_out(out, len(images))
    if suffix == ".npy":
        return _save_npy(images.squeeze(1).numpy().astype(np.float32, copy=False), out)
    picture = grid_image(images, nrow or math.ceil(math.sqrt(len(images))), row_labels)
    return write_whole(out, lambda file: picture.save(file, format=GRID_FORMATS[suffix]), FIX)
