from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

import ganlab.metrics.classifier as classifier_module
import ganlab.metrics.evaluator_cache as evaluator_module
from ganlab.data import load_mnist, scale_pixels
from ganlab.metrics import (
    EvaluatorCacheError,
    EvaluatorTooWeakError,
    MNISTClassifier,
    SampleQuality,
    TrainingSettings,
    load_evaluator,
    real_training_images,
    train_evaluator,
)
from ganlab.metrics.quality import coverage, knn_radii

from conftest import QUICK, QUICK_MIN_ACCURACY
from ganlab.errors import UserError
from helpers import assert_says, with_mnist

N_SAMPLES, N_REFERENCE = 2000, 3000


@pytest.fixture(scope="module")
def quick_dir(quick_evaluator_dir) -> Path:
    return quick_evaluator_dir


@pytest.fixture(scope="module")
def evaluator(quick_dir) -> MNISTClassifier:
    return load_evaluator(quick_dir, train_if_missing=False, min_accuracy=QUICK_MIN_ACCURACY)[0]


@pytest.fixture(scope="module")
def reference(mnist_dir) -> torch.Tensor:
    return scale_pixels(load_mnist(mnist_dir, "test")[0][:N_REFERENCE])


@pytest.fixture(scope="module")
def quality(evaluator, reference) -> SampleQuality:
    return SampleQuality(evaluator, reference)


@pytest.fixture(scope="module")
def real(mnist_dir) -> torch.Tensor:
    return real_training_images(mnist_dir, N_SAMPLES)


@pytest.fixture(scope="module")
def real_scores(quality, mnist_dir) -> dict[str, float]:
    return quality.real_floor(mnist_dir, N_SAMPLES)


@pytest.fixture(scope="module")
def train_set(mnist_dir) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = load_mnist(mnist_dir, "train")
    return scale_pixels(images), labels


@pytest.fixture
def cache_copy(quick_dir, tmp_path, mnist_dir) -> Path:
    """A data_dir holding a copy of the quick evaluator's cache, free to be damaged: its two files,
    not the caches that runs on other workers keep beside them."""
    data_dir = with_mnist(tmp_path / "data", mnist_dir)
    (data_dir / "evaluator").mkdir()
    for name in ("mnist_classifier.pt", "mnist_classifier.json"):
        shutil.copy2(quick_dir / "evaluator" / name, data_dir / "evaluator" / name)
    return data_dir


@pytest.fixture
def no_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the evaluator was retrained")

    monkeypatch.setattr(evaluator_module, "fit_classifier", fail)


def cache_files(data_dir: Path) -> tuple[Path, Path]:
    folder = data_dir / "evaluator"
    return folder / "mnist_classifier.pt", folder / "mnist_classifier.json"


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    return images if sigma == 0 else TF.gaussian_blur(images, kernel_size=9, sigma=sigma)


def add_noise(images: torch.Tensor, std: float) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    return (images + std * noise).clamp(-1, 1)


def digit(train_set, label: int, n: int = N_SAMPLES) -> torch.Tensor:
    images, labels = train_set
    return images[labels == label][:n]


# --- the metrics --------------------------------------------------------------------------------


def test_fid_of_a_set_against_itself_is_zero_and_real_data_sets_the_floor(quality, reference, real, real_scores):
    itself = quality.score(reference)
    blurred = quality.score(blur(real, 1.0))
    assert 0 < real_scores["fid"] < 0.05 * blurred["fid"]
    assert abs(itself["fid"]) < 1e-3 * real_scores["fid"]
    assert itself["precision"] == itself["recall"] == 1.0
    assert itself["num_samples"] == itself["num_reference"] == N_REFERENCE
    assert real_scores["num_samples"] == N_SAMPLES and real_scores["num_reference"] == N_REFERENCE


def test_the_references_features_are_kept_beside_the_evaluator_and_score_exactly_as_computed(cache_copy, evaluator,
                                                                                           real):
    computed = SampleQuality.for_mnist(cache_copy, evaluator=evaluator)
    assert (cache_copy / "evaluator" / "reference_test_cpu.pt").is_file()
    kept = SampleQuality.for_mnist(cache_copy, evaluator=evaluator)
    assert torch.equal(kept.reference_features, computed.reference_features)
    assert torch.equal(kept.reference_radii, computed.reference_radii)
    assert kept.score(real) == computed.score(real)


def test_a_foreign_damaged_or_hostile_reference_file_is_recomputed_and_runs_nothing(evaluator, reference, tmp_path,
                                                                                   caplog):
    few, kept, marker = reference[:300], tmp_path / "reference.pt", tmp_path / "ran"
    computed = SampleQuality(evaluator, few)

    class RunsCode:  # a plain torch.load would unpickle it, and make the marker
        def __reduce__(self):
            return (Path.touch, (marker,))

    for wrong, says in [(lambda: SampleQuality(evaluator, reference[300:600], cache=kept), "not this reference's"),
                        (lambda: kept.write_bytes(b"not a tensor file"), "could not be used"),
                        (lambda: torch.save({"key": RunsCode()}, kept), "could not be used")]:
        wrong()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="ganlab.metrics.reference_cache"):
            recomputed = SampleQuality(evaluator, few, cache=kept)
        assert_says(caplog.text, "Recomputing the reference's features", says)
        assert torch.equal(recomputed.reference_features, computed.reference_features) and not marker.exists()
        assert torch.equal(recomputed.reference_radii, computed.reference_radii)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ganlab.metrics.reference_cache"):
        SampleQuality(evaluator, few, cache=kept)
    assert "Recomputing" not in caplog.text, "rewritten whole, and read back"


def test_fid_is_the_frechet_distance_of_the_feature_statistics(quality, reference, real):
    """Against the textbook formula, with a symmetric matrix root instead of torchmetrics' eigvals."""

    def stats(images):
        f = quality.embed(images)[0].double().cpu().numpy()
        return f.mean(0), np.cov(f, rowvar=False)

    def sqrt_psd(m):
        w, v = np.linalg.eigh(m)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    (mu1, s1), (mu2, s2) = stats(real), stats(reference)
    root1 = sqrt_psd(s1)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(sqrt_psd(root1 @ s2 @ root1))
    first = quality.score(real)["fid"]
    quality.score(add_noise(real, 0.6))  # must leave nothing behind for the next score
    assert first == pytest.approx(expected, rel=1e-6)
    assert quality.score(real)["fid"] == first


def test_fid_rises_monotonically_with_blur(quality, real):
    fids = [quality.score(blur(real, sigma))["fid"] for sigma in (0, 1, 2)]
    assert fids[0] < fids[1] < fids[2], fids


def test_fid_rises_monotonically_with_noise(quality, real):
    fids = [quality.score(add_noise(real, std))["fid"] for std in (0, 0.3, 0.6)]
    assert fids[0] < fids[1] < fids[2], fids


def test_one_digit_only_is_precise_but_recalls_little(quality, train_set, real_scores):
    ones = quality.score(digit(train_set, 1))
    assert ones["precision"] > 0.7 and ones["recall"] < 0.3, ones
    assert real_scores["precision"] > 0.7 and real_scores["recall"] > 0.7, real_scores


def test_collapsed_generator_is_flagged_and_real_data_is_balanced(quality, train_set, real_scores):
    sevens = quality.score(digit(train_set, 7))
    assert sevens["class_share_7"] > 0.9
    assert sevens["min_class_share"] < 0.01
    assert sevens["class_kl"] > 0.85 * math.log(10)
    assert sum(sevens[f"class_share_{c}"] for c in range(10)) == pytest.approx(1.0)
    assert real_scores["class_kl"] < 0.02 and real_scores["min_class_share"] > 0.07


def test_classifier_score_is_high_for_digits_and_about_one_for_noise_or_one_class(quality, train_set, real_scores):
    noise = quality.score(torch.rand(N_SAMPLES, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    ones = quality.score(digit(train_set, 1))
    assert real_scores["classifier_score"] > 5 > 1.5 > max(noise["classifier_score"], ones["classifier_score"])
    assert real_scores["classifier_score_std"] > 0


def test_precision_and_recall_follow_the_paper(quality):
    """k-NN balls in each set, itself excluded, checked by brute force (chunks smaller than the sets)."""
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(40, 5, generator=gen), torch.randn(30, 5, generator=gen) + 0.7
    k = 3

    def radii(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.array([np.sort(np.delete(row, i))[k - 1] for i, row in enumerate(d)])

    def share_inside(queries, points, r):
        d = np.linalg.norm(queries[:, None] - points[None], axis=-1)
        return float((d <= r[None]).any(axis=1).mean())

    r_real, r_fake = radii(real.numpy()), radii(fake.numpy())
    np.testing.assert_allclose(knn_radii(real, k, batch_size=7).numpy(), r_real, rtol=1e-5)
    precision = coverage(fake, real, knn_radii(real, k, batch_size=7), batch_size=7)
    recall = coverage(real, fake, knn_radii(fake, k, batch_size=7), batch_size=7)
    assert precision == pytest.approx(share_inside(fake.numpy(), real.numpy(), r_real))
    assert recall == pytest.approx(share_inside(real.numpy(), fake.numpy(), r_fake))
    assert 0 < recall < 1 and 0 < precision < 1  # the brute force is exercised on both sides of the radius


def test_score_takes_numpy_and_rejects_what_is_not_generator_output(quality, real, real_scores):
    assert quality.score(real.squeeze(1).numpy()) == quality.score(real)
    with pytest.raises(ValueError, match="scale_pixels"):
        quality.score((real * 127.5 + 127.5).to(torch.uint8))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        quality.score(real * 127.5 + 127.5)
    with pytest.raises(ValueError, match="NaN"):
        quality.score(torch.full((100, 1, 28, 28), float("nan")))
    with pytest.raises(ValueError, match="shape"):
        quality.score(torch.zeros(100, 3, 28, 28))
    with pytest.raises(ValueError, match="too few"):
        quality.score(real[:3])


# --- the evaluator and its cache ----------------------------------------------------------------


def test_cached_weights_load_with_weights_only(quick_dir, evaluator, reference):
    weights, metadata = cache_files(quick_dir)
    state = torch.load(weights, weights_only=True)
    model = MNISTClassifier()
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(reference[:50]), evaluator(reference[:50]))
        assert evaluator.features(reference[:50]).shape == (50, MNISTClassifier.num_features)
    meta = json.loads(metadata.read_text())
    assert meta["training"] == dataclasses.asdict(QUICK)
    assert QUICK_MIN_ACCURACY <= meta["test_accuracy"] < 1


def test_second_load_uses_the_cache_without_training(cache_copy, no_training):
    files = cache_files(cache_copy)
    before = [(f.stat().st_mtime_ns, f.read_bytes()) for f in files]
    model, meta = load_evaluator(cache_copy, min_accuracy=QUICK_MIN_ACCURACY)
    train_evaluator(cache_copy, min_accuracy=QUICK_MIN_ACCURACY)  # without force: keeps a good cache
    assert [(f.stat().st_mtime_ns, f.read_bytes()) for f in files] == before
    torch.testing.assert_close(model.state_dict(), torch.load(files[0], weights_only=True))
    assert not model.training


def test_tampered_weights_raise_instead_of_retraining(cache_copy, no_training):
    weights, _ = cache_files(cache_copy)
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(EvaluatorCacheError, match="sha256.*force=True"):
        load_evaluator(cache_copy, min_accuracy=QUICK_MIN_ACCURACY)
    with pytest.raises(EvaluatorCacheError, match="sha256"):
        train_evaluator(cache_copy, min_accuracy=QUICK_MIN_ACCURACY)
    assert weights.read_bytes() == bytes(data), "the damaged cache must be left for a person to look at"


@pytest.mark.parametrize("missing", [0, 1], ids=["weights", "metadata"])
def test_half_a_cache_raises(cache_copy, no_training, missing):
    files = cache_files(cache_copy)
    files[missing].unlink()
    with pytest.raises(EvaluatorCacheError, match=f"incomplete: .* no {files[missing].name}"):
        load_evaluator(cache_copy, min_accuracy=QUICK_MIN_ACCURACY)
    assert not files[missing].exists() and files[1 - missing].exists()


def test_unreadable_metadata_raises(cache_copy, no_training):
    cache_files(cache_copy)[1].write_text("{not json")
    with pytest.raises(EvaluatorCacheError, match="cannot be read"):
        load_evaluator(cache_copy, min_accuracy=QUICK_MIN_ACCURACY)


def test_no_cache_and_no_training_says_how_to_train(tmp_path):
    with pytest.raises(EvaluatorCacheError, match="make evaluator"):
        load_evaluator(tmp_path, train_if_missing=False)


def test_a_cached_evaluator_below_the_required_accuracy_is_not_used(cache_copy, no_training):
    with pytest.raises(EvaluatorCacheError, match="below the required 0.99"):
        load_evaluator(cache_copy)


def test_force_retrains_and_replaces_saying_so(cache_copy, caplog):
    weights, metadata = cache_files(cache_copy)
    old_sha = json.loads(metadata.read_text())["weights_sha256"]
    other = dataclasses.replace(QUICK, train_subset=2000, seed=1)  # this test is about replacing, not accuracy
    with caplog.at_level(logging.INFO, logger="ganlab.metrics.evaluator_cache"):
        _, meta = train_evaluator(cache_copy, force=True, settings=other, min_accuracy=0)
    assert "force=True: retraining" in caplog.text and "replace" in caplog.text
    assert meta["weights_sha256"] != old_sha and meta["training"]["seed"] == 1
    assert json.loads(metadata.read_text()) == meta
    assert load_evaluator(cache_copy, min_accuracy=0)[1] == meta
    assert sorted(p.name for p in weights.parent.iterdir()) == [metadata.name, weights.name]


def test_an_evaluator_below_the_accuracy_floor_is_refused(tmp_path, mnist_dir):
    data_dir = with_mnist(tmp_path, mnist_dir)
    weak = TrainingSettings(epochs=1, train_subset=256)
    with pytest.raises(EvaluatorTooWeakError, match="below the required 0.99; it was not cached"):
        load_evaluator(data_dir, settings=weak)
    folder = data_dir / "evaluator"
    assert not folder.exists() or not list(folder.iterdir()), "nothing of the weak evaluator is kept"


def test_parallel_first_uses_train_once(tmp_path, mnist_dir, monkeypatch):
    data_dir = with_mnist(tmp_path, mnist_dir)
    fit, calls = evaluator_module.fit_classifier, []
    monkeypatch.setattr(evaluator_module, "fit_classifier", lambda *a, **kw: calls.append(1) or fit(*a, **kw))
    results: list = []
    tiny = TrainingSettings(epochs=1, train_subset=256)
    jobs = [threading.Thread(target=lambda: results.append(load_evaluator(data_dir, settings=tiny, min_accuracy=0)[1]))
            for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert len(calls) == 1 and len(results) == 2 and results[0] == results[1]


def test_training_is_seeded_and_leaves_the_callers_rng_alone(train_set):
    images, labels = train_set
    tiny = TrainingSettings(epochs=1, train_subset=512, max_shift=2)
    rng = torch.get_rng_state()
    first, second = (classifier_module.fit_classifier(images, labels, tiny) for _ in range(2))
    assert torch.equal(rng, torch.get_rng_state())
    torch.testing.assert_close(first.state_dict(), second.state_dict(), rtol=0, atol=0)
    third = classifier_module.fit_classifier(images, labels, dataclasses.replace(tiny, seed=1))
    assert not torch.equal(first.head[1].weight, third.head[1].weight)


def test_random_shift_moves_whole_images_within_two_pixels():
    image = -torch.ones(1, 1, 28, 28)
    image[0, 0, 10:14, 12:15] = 1.0
    shifted = classifier_module.random_shift(image.repeat(200, 1, 1, 1), 2, torch.Generator().manual_seed(0))
    offsets = set()
    for one in shifted:
        ys, xs = torch.nonzero(one[0] == 1, as_tuple=True)
        assert len(ys) == 12, "the digit is moved, not cut or stretched"
        offsets.add((int(ys.min()) - 10, int(xs.min()) - 12))
    assert offsets == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}


@pytest.mark.slow
def test_production_evaluator_reaches_99_percent(tmp_path, mnist_dir):
    _, meta = train_evaluator(with_mnist(tmp_path, mnist_dir))
    assert meta["test_accuracy"] >= 0.99
    assert meta["training"] == dataclasses.asdict(TrainingSettings())


def test_label_accuracy_checks_a_conditional_generator(evaluator, reference, mnist_dir):
    quality = SampleQuality(evaluator, reference)
    images, labels = load_mnist(mnist_dir, "test")
    images, labels = scale_pixels(images[-N_SAMPLES:]), labels[-N_SAMPLES:]
    obeys = quality.score(images, labels)
    assert obeys["label_accuracy"] > 0.9 and obeys["min_label_accuracy"] > 0.8
    ignores = quality.score(images, (labels + 1) % 10)  # every image asked for the wrong digit
    assert ignores["label_accuracy"] < 0.1 and ignores["min_label_accuracy"] < 0.1
    assert "label_accuracy" not in quality.score(images)


def test_a_run_without_a_cached_evaluator_trains_it_in_a_child_that_runs(tmp_path):
    """The child is ``python -m ganlab.metrics``, the package's entry point: ``-m`` on the cache
    module itself ran nothing and exited 0, leaving no evaluator. On damaged MNIST the child fails
    fast, and its one line reaches the run."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"not MNIST")
    with pytest.raises(EvaluatorCacheError, match=r"training the MNIST evaluator failed .*: Error: The MNIST files in"):
        evaluator_module.train_in_a_process_of_its_own(tmp_path / "data")


def test_a_child_that_caches_nothing_is_a_one_line_error(tmp_path, mnist_dir, monkeypatch):
    """A child that exits 0 without an evaluator (as ``-m`` on a module without a main did) must not
    pass for one that trained: the run would fail later, at its first score."""
    data_dir = with_mnist(tmp_path / "data", mnist_dir)
    monkeypatch.setattr(evaluator_module.subprocess, "run",
                        lambda command, **kwargs: subprocess.CompletedProcess(command, 0, "", ""))
    with pytest.raises(UserError, match="ended without caching one in .*run `make evaluator` to see why"):
        evaluator_module.train_in_a_process_of_its_own(data_dir)


@pytest.mark.slow
def test_a_fresh_data_folder_gets_an_evaluator_trained_in_a_child_process(tmp_path, mnist_dir):
    data_dir = with_mnist(tmp_path / "data", mnist_dir)
    evaluator_module.train_in_a_process_of_its_own(data_dir)
    _, meta = evaluator_module.load_evaluator(data_dir, train_if_missing=False)
    assert meta["test_accuracy"] > 0.99
