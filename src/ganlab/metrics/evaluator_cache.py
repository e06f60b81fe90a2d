"""The MNIST evaluator's cache: the classifier (classifier.py) the sample quality metrics measure
with, trained once, kept beside the data and checked when loaded. ``python -m ganlab.metrics``
(``make evaluator``) trains it.

Inception features mean nothing on MNIST, so the field measures MNIST samples with a classifier
trained on MNIST itself (TF-GAN's ``mnist_score`` and ``mnist_frechet_distance``). The classifier
is trained the first time it is needed and kept beside the data:

    <data_dir>/evaluator/mnist_classifier.pt     the state_dict (loads with weights_only=True)
    <data_dir>/evaluator/mnist_classifier.json   test accuracy, sha256 of the .pt, training settings

A cache that does not check out is an error, never a reason to retrain: scores measured with two
different evaluators cannot be compared, so replacing one must be a deliberate act
(``train_evaluator(force=True)``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import logging
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ganlab.data import load_mnist, scale_pixels
from ganlab.data.files import DataDirNotWritable, cannot_write
from ganlab.errors import UserError
from ganlab.metrics.classifier import MNISTClassifier, TrainingSettings, accuracy, fit_classifier
from ganlab.file_locks import waiting_for
from ganlab.run_folders.resolvers import project_root

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MIN_TEST_ACCURACY = 0.99
CACHE_FOLDER = "evaluator"
WEIGHTS_NAME = "mnist_classifier.pt"
METADATA_NAME = "mnist_classifier.json"


class EvaluatorCacheError(UserError, RuntimeError):
    """The cached evaluator is missing, incomplete or not the one its metadata describes: a fault of
    the data folder, told in one line like any other (and still a RuntimeError, as it always was)."""


class EvaluatorTooWeakError(RuntimeError):
    """A trained evaluator fell short of the test accuracy its scores need; it was not cached."""


def cache_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / CACHE_FOLDER


def load_evaluator(
    data_dir: str | os.PathLike,
    train_if_missing: bool = True,
    device: str | torch.device = "cpu",
    settings: TrainingSettings | None = None,
    min_accuracy: float = MIN_TEST_ACCURACY,
) -> tuple[MNISTClassifier, dict[str, Any]]:
    """The cached evaluator (eval mode, on ``device``) and its metadata.

    With no cache at all it trains one first (``settings``, default production's) if
    ``train_if_missing``; any other trouble with the cache raises EvaluatorCacheError. A complete
    cache is read without the lock, which a read-only data_dir (a shared mount) could not take.
    """
    folder = cache_dir(data_dir)
    if _cache_complete(folder):
        try:
            return _read_cache(folder, min_accuracy, device)
        except EvaluatorCacheError:
            if cannot_write(data_dir) is not None:
                raise  # nothing can be replacing it there: it is what it is
            # else a parallel job may be replacing it (force=True): read it again once that job is done
    if cannot_write(data_dir) is not None and (_cache_present(folder) or not train_if_missing):
        return _read_cache(folder, min_accuracy, device)  # it says what is wrong with the cache
    # Held while reading too: a parallel job may be writing the two files right now.
    with _cache_lock(data_dir):
        if not _cache_present(folder) and train_if_missing:
            log.info("No cached MNIST evaluator in %s: training one now (about a minute or two on CPU)", folder)
            return _train_and_cache(data_dir, settings or TrainingSettings(), min_accuracy, device)
        return _read_cache(folder, min_accuracy, device)


def train_evaluator(
    data_dir: str | os.PathLike,
    force: bool = False,
    device: str | torch.device = "cpu",
    settings: TrainingSettings | None = None,
    min_accuracy: float = MIN_TEST_ACCURACY,
) -> tuple[MNISTClassifier, dict[str, Any]]:
    """``make evaluator``: trains and caches the evaluator unless a good one is cached already.

    ``force`` retrains and replaces whatever is cached, broken or not; the replacement happens
    only once the new evaluator has passed ``min_accuracy``.
    """
    folder = cache_dir(data_dir)
    if not force and _cache_present(folder) and cannot_write(data_dir) is not None:
        model, meta = _read_cache(folder, min_accuracy, device)  # a read-only data_dir: no lock to take
        log.info("The cached MNIST evaluator in %s is fine (test accuracy %.4f)", folder, meta["test_accuracy"])
        return model, meta
    with _cache_lock(data_dir, f"force=True retrains the MNIST evaluator into {folder}" if force else None):
        if not force and _cache_present(folder):
            model, meta = _read_cache(folder, min_accuracy, device)
            log.info("The cached MNIST evaluator in %s is fine (test accuracy %.4f); make evaluator FORCE=1 "
                     "(Python: force=True) retrains it",
                     folder, meta["test_accuracy"])
            return model, meta
        if _cache_present(folder):
            log.warning("force=True: retraining the MNIST evaluator; it will replace the one cached in %s "
                        "(scores measured with the old one are not comparable with new ones)", folder)
        else:
            log.info("Training the MNIST evaluator into %s (about a minute or two on CPU)", folder)
        return _train_and_cache(data_dir, settings or TrainingSettings(), min_accuracy, device)


def train_in_a_process_of_its_own(data_dir: str | os.PathLike, device: str | torch.device = "cpu") -> None:
    """``make evaluator`` in a child process, for a run that finds no cached evaluator.

    Trained inside the run's process, the evaluator changed the run: the same seed trained other
    weights on the first run of a checkout than on every later one (the CPU kernels' state after
    training a conv net differs; measured in benchmarks/README.md). In a process of its own it leaves
    the run's process exactly as a cached evaluator would.
    """
    if _cache_present(cache_dir(data_dir)):
        return
    check_it_can_be_trained(data_dir)
    log.info("No cached MNIST evaluator in %s: training one in a separate process (about a minute on a CPU)",
             cache_dir(data_dir))
    package_root = str(Path(__file__).resolve().parents[2])  # so the child imports this very ganlab
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    # the package's entry point (metrics/__main__.py): this module has none, so ``-m`` on it would do nothing
    command = [sys.executable, "-m", "ganlab.metrics", "--data-dir", str(data_dir), "--device", str(device)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise EvaluatorCacheError(f"training the MNIST evaluator failed ({' '.join(command)}): {last}")
    if not _cache_complete(cache_dir(data_dir)):  # a child that ran nothing must not pass for one that trained
        raise EvaluatorCacheError(f"training the MNIST evaluator ({' '.join(command)}) ended without caching one "
                                  f"in {cache_dir(data_dir)}; run `make evaluator` to see why")


def check_it_can_be_trained(data_dir: str | os.PathLike) -> None:
    """With no evaluator cached in ``data_dir``, refuses a data_dir where none can be trained and
    cached (``DataDirNotWritable``): asked before a run begins, so that the refusal leaves no run."""
    if not _cache_present(cache_dir(data_dir)) and (reason := cannot_write(data_dir)) is not None:
        raise DataDirNotWritable(data_dir, _NOT_CACHED.format(cache_dir(data_dir)), reason)


_NOT_CACHED = "No MNIST evaluator is cached in {}, so one must be trained there"


def _cache_lock(data_dir: str | os.PathLike, what: str | None = None):
    """Beside the cache folder, not in it, so deleting the folder to retrain never pulls a held lock away.
    ``what`` must be written, for the line that refuses a data_dir that cannot be written."""
    if (reason := cannot_write(data_dir)) is not None:
        raise DataDirNotWritable(data_dir, what or _NOT_CACHED.format(cache_dir(data_dir)), reason)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    return waiting_for(Path(data_dir) / f".{CACHE_FOLDER}.lock", "training or reading the MNIST evaluator")


def _cache_present(folder: Path) -> bool:
    """True if either file is there: half a cache must reach _read_cache and fail loudly."""
    return (folder / WEIGHTS_NAME).exists() or (folder / METADATA_NAME).exists()


def _cache_complete(folder: Path) -> bool:
    return (folder / WEIGHTS_NAME).is_file() and (folder / METADATA_NAME).is_file()


def _train_and_cache(
    data_dir: str | os.PathLike, settings: TrainingSettings, min_accuracy: float, device: str | torch.device
) -> tuple[MNISTClassifier, dict[str, Any]]:
    start = time.perf_counter()
    train_images, train_labels = load_mnist(data_dir, "train")
    test_images, test_labels = load_mnist(data_dir, "test")
    model = fit_classifier(scale_pixels(train_images), train_labels, settings, device)
    test_accuracy = accuracy(model, scale_pixels(test_images), test_labels)
    seconds = time.perf_counter() - start
    if test_accuracy < min_accuracy:
        raise EvaluatorTooWeakError(
            f"The MNIST evaluator trained with {settings} reached only {test_accuracy:.4f} test accuracy, below "
            f"the required {min_accuracy}; it was not cached. Train longer (more epochs) or on all the data."
        )
    folder = cache_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    weights, metadata = folder / WEIGHTS_NAME, folder / METADATA_NAME
    tmp_weights, tmp_metadata = folder / f".{WEIGHTS_NAME}.partial", folder / f".{METADATA_NAME}.partial"
    try:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp_weights)
        meta = {
            "format_version": FORMAT_VERSION,
            "model": "ganlab.metrics.classifier.MNISTClassifier",
            "num_features": MNISTClassifier.num_features,
            "test_accuracy": test_accuracy,
            "test_images": len(test_images),
            "weights_sha256": _sha256(tmp_weights),
            "training": dataclasses.asdict(settings),
            "train_seconds": round(seconds, 1),
            "trained_on": str(device),
            "torch_version": torch.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        tmp_metadata.write_text(json.dumps(meta, indent=2) + "\n")
        # The JSON goes last: until it is in place no reader takes the new weights for a finished cache.
        os.replace(tmp_weights, weights)
        os.replace(tmp_metadata, metadata)
    finally:
        tmp_weights.unlink(missing_ok=True)
        tmp_metadata.unlink(missing_ok=True)
    log.info("Trained the MNIST evaluator in %.0f s: test accuracy %.4f; cached in %s", seconds, test_accuracy, folder)
    return model.requires_grad_(False), meta


def _read_cache(
    folder: Path, min_accuracy: float, device: str | torch.device
) -> tuple[MNISTClassifier, dict[str, Any]]:
    weights, metadata = folder / WEIGHTS_NAME, folder / METADATA_NAME
    retrain = (
        f"Delete {folder} to have it trained afresh on next use, or retrain and replace it with "
        "make evaluator FORCE=1 (Python: ganlab.metrics.train_evaluator(data_dir, force=True))"
    )
    if not weights.is_file() and not metadata.is_file():
        raise EvaluatorCacheError(f"No MNIST evaluator is cached in {folder}. Run `make evaluator` "
                                  "(ganlab.metrics.train_evaluator(data_dir)) to train one.")
    for present, missing in ((weights, metadata), (metadata, weights)):
        if not missing.is_file():
            raise EvaluatorCacheError(f"The evaluator cache in {folder} is incomplete: {present.name} has no "
                                      f"{missing.name} beside it. {retrain}.")
    try:
        meta = json.loads(metadata.read_text())
        expected_sha = meta["weights_sha256"]
        version, test_accuracy = meta["format_version"], float(meta["test_accuracy"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise EvaluatorCacheError(f"{metadata} cannot be read ({type(err).__name__}: {err}). {retrain}.") from err
    if version != FORMAT_VERSION:
        raise EvaluatorCacheError(
            f"{metadata} has format_version {version}; this code reads {FORMAT_VERSION}. {retrain}."
        )
    try:
        stored = weights.read_bytes()  # read once: the bytes checked are the bytes loaded
        actual_sha = hashlib.sha256(stored).hexdigest()
    except OSError as err:
        raise EvaluatorCacheError(f"{weights} cannot be read ({err}). {retrain}.") from err
    if actual_sha != expected_sha:
        raise EvaluatorCacheError(
            f"{weights} has sha256 {actual_sha}, but {metadata.name} records {expected_sha}: the weights are not "
            f"the evaluator the metadata describes (changed or damaged). {retrain}."
        )
    if test_accuracy < min_accuracy:
        raise EvaluatorCacheError(
            f"The evaluator cached in {folder} has test accuracy {test_accuracy:.4f}, below the required "
            f"{min_accuracy}. {retrain}."
        )
    model = MNISTClassifier()
    try:
        model.load_state_dict(torch.load(io.BytesIO(stored), map_location="cpu", weights_only=True))
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as err:
        raise EvaluatorCacheError(f"{weights} does not load into MNISTClassifier ({type(err).__name__}: {err}). "
                                  f"{retrain}.") from err
    return model.to(device).eval().requires_grad_(False), meta


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    """``make evaluator`` (``python -m ganlab.metrics``): trains and caches the evaluator."""
    parser = argparse.ArgumentParser(description="Train and cache the MNIST evaluator the metrics use.")
    parser.add_argument("--data-dir", default=str(Path(project_root()) / "data"))
    parser.add_argument("--force", action="store_true", help="retrain and replace a cached evaluator")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _, meta = train_evaluator(args.data_dir, force=args.force, device=args.device)
    print(f"MNIST evaluator in {cache_dir(args.data_dir)}: test accuracy {meta['test_accuracy']:.4f}, "
          f"sha256 {meta['weights_sha256'][:12]}")

