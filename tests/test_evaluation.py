"""Scoring checkpoints and sample files: the API and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import QUICK_MIN_ACCURACY
from ganlab.errors import UserError
from ganlab.evaluation import default_scores_path, evaluate, format_table, load_samples, write_scores
from ganlab.trained_gan import pick_device
from ganlab.metrics import real_training_images
from helpers import run_command


def test_checkpoint_report_has_metrics_floor_and_sizes(checkpoint, quick_evaluator_dir):
    report = evaluate(quick_evaluator_dir, ckpt_path=checkpoint, num_samples=1000,
                      min_evaluator_accuracy=QUICK_MIN_ACCURACY)
    assert report["num_samples"] == 1000 and report["num_reference"] == 10_000
    assert report["metrics"]["num_samples"] == 1000 and report["real_floor"]["num_samples"] == 1000
    # five iterations of training make noise, far worse than real digits on every count
    assert report["metrics"]["fid"] > 10 * report["real_floor"]["fid"]
    assert report["metrics"]["classifier_score"] < report["real_floor"]["classifier_score"]
    table = format_table(report)
    assert "1000 samples vs 10000 MNIST test images" in table and "fid" in table and "real floor" in table
    path = write_scores(report, default_scores_path(checkpoint, None))
    assert path == checkpoint.with_name("last.metrics.json")
    assert json.loads(path.read_text())["metrics"]["fid"] == pytest.approx(report["metrics"]["fid"])


def test_samples_from_anywhere_are_scored_like_real_ones(quick_evaluator_dir, tmp_path):
    real = real_training_images(quick_evaluator_dir, 1000, seed=5).squeeze(1).numpy()
    np.save(tmp_path / "real.npy", real)
    report = evaluate(quick_evaluator_dir, samples=tmp_path / "real.npy", num_samples=1000, floor=False,
                      min_evaluator_accuracy=QUICK_MIN_ACCURACY)
    assert report["metrics"]["fid"] < 5 and report["metrics"]["recall"] > 0.5
    assert "real_floor" not in report


def test_bad_requests_are_explained(quick_evaluator_dir, tmp_path, checkpoint):
    kwargs = {"min_evaluator_accuracy": QUICK_MIN_ACCURACY}
    with pytest.raises(ValueError, match="exactly one of"):
        evaluate(quick_evaluator_dir, **kwargs)
    with pytest.raises(ValueError, match="exactly one of"):
        evaluate(quick_evaluator_dir, ckpt_path=checkpoint, samples="x.npy", **kwargs)
    np.save(tmp_path / "few.npy", np.zeros((50, 28, 28), np.float32))
    with pytest.raises(ValueError, match="holds 50 samples.*num_samples=50"):
        evaluate(quick_evaluator_dir, samples=tmp_path / "few.npy", **kwargs)
    with pytest.raises(UserError, match="not a file"):
        evaluate(quick_evaluator_dir, samples=tmp_path / "missing.npy", **kwargs)


@pytest.mark.slow  # a subprocess with the evaluator; the scoring itself is tested in-process above
def test_command_prints_the_table_and_writes_json(quick_evaluator_dir, tmp_path):
    samples = real_training_images(quick_evaluator_dir, 500, seed=1).squeeze(1).numpy()
    np.save(tmp_path / "s.npy", samples)
    result = run_command("evaluate.py", f"samples={tmp_path / 's.npy'}", "num_samples=500",
                         f"paths.data_dir={quick_evaluator_dir}", f"min_evaluator_accuracy={QUICK_MIN_ACCURACY}",
                         check=True)
    assert "500 samples vs 10000 MNIST test images" in result.stdout
    report = json.loads((tmp_path / "s.metrics.json").read_text())
    assert set(report) >= {"samples", "num_samples", "evaluator", "metrics", "real_floor"}
    assert torch.isfinite(torch.tensor(report["metrics"]["fid"]))


@pytest.mark.parametrize(
    "array, match",
    [
        (np.float32(0.5), r"shape \[\]; give \[N, 28, 28\] images"),
        (np.zeros((0, 28, 28), np.float32), r"shape \[0, 28, 28\]"),
        (np.zeros((28, 28, 100), np.float32), r"shape \[28, 28, 100\].*np.moveaxis"),
        ("not an array", r"is not an .npy array file \(written by np.save\); give \[N, 28, 28\] floats"),
        (np.zeros((20, 28, 28), np.complex64), "holds complex64 values; give real numbers"),
    ],
    ids=["0-d", "empty", "channels last", "text named .npy", "complex"],
)
def test_sample_files_that_are_not_images_are_refused(tmp_path, array, match):
    path = tmp_path / "s.npy"
    if isinstance(array, str):
        path.write_text(array)
    else:
        np.save(path, array)
    with pytest.raises(UserError, match=match) as refused:
        load_samples(path, 10)
    assert "allow_pickle" not in str(refused.value)


def test_samples_in_zero_one_are_scored_with_a_warning(tmp_path, caplog):
    np.save(tmp_path / "s.npy", np.random.default_rng(0).random((20, 28, 28), dtype=np.float32))
    assert load_samples(tmp_path / "s.npy", 20).shape == (20, 28, 28)
    assert "lies in [0, 1]; this project's images are in [-1, 1]" in caplog.text


@pytest.mark.parametrize("num_samples", [0, -5, "many"])
def test_num_samples_must_be_a_positive_number(num_samples, tmp_path):
    with pytest.raises(ValueError, match=f"num_samples={num_samples!r}: score a positive whole number"):
        evaluate(tmp_path, samples=tmp_path / "s.npy", num_samples=num_samples)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(ValueError, match="device=cuda: no CUDA GPU is visible here; use device=cpu"):
        pick_device("cuda")
    assert pick_device("auto") == "cpu"
