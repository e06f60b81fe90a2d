from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.data import MNISTDataModule, load_mnist, scale_pixels
from ganlab.data.mnist import IndexBatches


@pytest.fixture(scope="module")
def datamodule(mnist_dir):
    dm = MNISTDataModule(data_dir=str(mnist_dir), batch_size=128)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_images_are_exactly_the_seeds_scaling(datamodule, mnist_dir):
    raw, _ = load_mnist(mnist_dir, "train")
    # the seed: X_train / 127.5 - 1.0 in numpy float64, then float32 in Keras
    expected = (raw.numpy() / 127.5 - 1.0).astype(np.float32)[:, None]
    assert datamodule.images.dtype == torch.float32
    assert datamodule.images.shape == (60_000, 1, 28, 28)
    np.testing.assert_array_equal(datamodule.images.numpy(), expected)
    assert datamodule.images.min().item() == -1.0 and datamodule.images.max().item() == 1.0


def test_scaling_covers_every_pixel_value_exactly():
    values = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)
    scaled = scale_pixels(values)
    expected = (np.arange(256) / 127.5 - 1.0).astype(np.float32).reshape(1, 1, 16, 16)
    np.testing.assert_array_equal(scaled.numpy(), expected)
    assert scaled.min() == -1 and scaled.max() == 1


def test_batches_are_images_in_range_with_labels(datamodule):
    index = next(iter(datamodule.train_dataloader()))
    images, labels = datamodule.transfer_batch_to_device(index, torch.device("cpu"), 0)
    assert images.shape == (128, 1, 28, 28) and labels.shape == (128,)
    assert images.min() >= -1 and images.max() <= 1
    torch.testing.assert_close(images, datamodule.images[index])
    torch.testing.assert_close(labels, datamodule.labels[index])


def test_replacement_sampling_repeats_with_the_seed():
    first = [b.clone() for b in IndexBatches(1000, 32, "replacement", seed=3)]
    again = [b.clone() for b in IndexBatches(1000, 32, "replacement", seed=3)]
    other = [b.clone() for b in IndexBatches(1000, 32, "replacement", seed=4)]
    assert len(first) == 1000 // 32
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_shuffle_visits_every_image_once_per_epoch():
    batches = IndexBatches(1000, 100, "shuffle", seed=0)
    epoch1 = torch.cat(list(batches))
    epoch2 = torch.cat(list(batches))
    assert sorted(epoch1.tolist()) == list(range(1000))
    assert not torch.equal(epoch1, epoch2), "each epoch draws a new permutation"


def test_ranks_get_different_batches():
    shuffled = [torch.cat(list(IndexBatches(1000, 100, "shuffle", seed=0, rank=r, world_size=2))) for r in (0, 1)]
    assert set(shuffled[0].tolist()).isdisjoint(shuffled[1].tolist())
    assert len(shuffled[0]) + len(shuffled[1]) == 1000
    drawn = [next(iter(IndexBatches(1000, 100, "replacement", seed=0, rank=r, world_size=2))) for r in (0, 1)]
    assert not torch.equal(drawn[0], drawn[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"sampling": "random"}, "data.sampling"), ({"batch_size": 0}, "data.batch_size")],
)
def test_bad_settings_say_what_to_change(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MNISTDataModule(**kwargs)


def test_batch_larger_than_the_data_is_refused():
    with pytest.raises(ValueError, match="more than the 1000 images"):
        IndexBatches(1000, 2000, "replacement", seed=0)
