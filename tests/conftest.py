from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import ganlab.config  # noqa: F401  (registers the resolvers conf/ uses)
from ganlab.data.mnist_files import ensure_mnist
from ganlab.metrics import TrainingSettings, train_evaluator

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST files in the project's data/ folder, fetched once as `make train` would."""
    data_dir = ROOT / "data"
    ensure_mnist(data_dir)
    return data_dir


# A few seconds of training: about 97.5% test accuracy, plenty to tell good samples from bad ones.
QUICK = TrainingSettings(epochs=1, train_subset=10_000)
QUICK_MIN_ACCURACY = 0.9


def with_mnist(folder: Path, mnist_dir: Path) -> Path:
    """A data_dir in tmp whose MNIST is the real one, so an evaluator cache lands in tmp."""
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(mnist_dir / "MNIST", folder / "MNIST")
    return folder


@pytest.fixture(scope="session")
def quick_evaluator_dir(tmp_path_factory, mnist_dir) -> Path:
    """A data_dir with real MNIST and a quickly trained evaluator cached in it (not the real cache)."""
    data_dir = with_mnist(tmp_path_factory.mktemp("quick"), mnist_dir)
    train_evaluator(data_dir, settings=QUICK, min_accuracy=QUICK_MIN_ACCURACY)
    return data_dir


def compose_config(name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


@pytest.fixture
def make_train_cfg(tmp_path, mnist_dir):
    """The real train config, shrunk to a few CPU iterations writing into tmp_path."""

    def make(*overrides: str, output_dir: Path | None = None, quality: bool = False) -> DictConfig:
        base = [
            f"paths.output_dir={output_dir or tmp_path}",
            f"paths.data_dir={mnist_dir}",
            f"paths.log_dir={tmp_path}",
            "trainer.accelerator=cpu",
            "trainer.max_steps=7",
            "trainer.log_every_n_steps=2",
            "sample_interval=5",
            "checkpoint_interval=5",
        ]
        if not quality:  # it would train the real evaluator (a minute) on first use
            base.append("callbacks.sample_quality=null")
        return compose_config("train", base + list(overrides))

    return make


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of one TensorBoard scalar tag, as TensorBoard itself reads the run."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def image_steps(run_dir: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return [e.step for e in acc.Images(tag)]
