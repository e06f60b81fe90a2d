"""Score a checkpoint, or samples from anywhere, with the MNIST sample-quality metrics."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab import tags
from ganlab.errors import UserError
from ganlab.generation import FIX, generate
from ganlab.trained_gan import load_gan
from ganlab.metrics import SampleQuality, load_evaluator
from ganlab.whole_files import write_whole

log = logging.getLogger(__name__)


def evaluate(
    data_dir: str | os.PathLike,
    ckpt_path: str | os.PathLike | None = None,
    samples: str | os.PathLike | None = None,
    num_samples: int = 10_000,
    seed: int = 0,
    device: str = "cpu",
    floor: bool = True,
    min_evaluator_accuracy: float = 0.99,
    allow_targets: Iterable[str] = (),
) -> dict[str, Any]:
    """The report for a checkpoint's generator or an .npy of samples ([N, 28, 28] in [-1, 1]), with
    the same metrics for as many real training images (the floor) when ``floor``. ``allow_targets``:
    classes of the user's own that the checkpoint may name (trained_gan.load_gan)."""
    if (ckpt_path is None) == (samples is None):
        raise UserError("give exactly one of ckpt_path=<checkpoint> or samples=<file.npy>")
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise UserError(f"num_samples={num_samples!r}: score a positive whole number of samples, e.g. 10000")
    labels = None
    if ckpt_path is not None:
        model = load_gan(ckpt_path, device, allow_targets)
        labels = model.balanced_labels(num_samples)  # a conditional GAN is asked for each digit equally
        images = generate(model, num_samples, seed=seed)
        source = {"ckpt_path": str(ckpt_path), "seed": seed}
    else:
        images = load_samples(samples, num_samples)
        source = {"samples": str(samples)}
    evaluator, meta = load_evaluator(data_dir, device=device, min_accuracy=min_evaluator_accuracy)
    quality = SampleQuality.for_mnist(data_dir, evaluator=evaluator)
    report = {
        **source,
        "num_samples": len(images),
        "num_reference": quality.num_reference,
        "reference": "MNIST test set",
        "evaluator": {"weights_sha256": meta["weights_sha256"], "test_accuracy": meta["test_accuracy"]},
        "metrics": quality.score(images, labels),
    }
    if floor:
        report["real_floor"] = quality.real_floor(data_dir, n=len(images))
    return report


def load_samples(path: str | os.PathLike, num_samples: int) -> torch.Tensor:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"samples={path} is not a file; give an .npy of [N, 28, 28] floats in [-1, 1]")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as err:  # numpy's own words suggest allow_pickle, which would run code
        raise UserError(f"samples={path} is not an .npy array file (written by np.save); give [N, 28, 28] floats "
                        "in [-1, 1]") from err
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise UserError(f"samples={path} holds {array.dtype} values; give real numbers, floats in [-1, 1]")
    if array.ndim != 3 or array.shape[1:] != (28, 28) or len(array) == 0:
        raise UserError(
            f"samples={path} holds an array of shape {list(array.shape)}; give [N, 28, 28] images, N >= 1 "
            "(e.g. np.moveaxis(a, -1, 0) for [28, 28, N])"
        )
    if len(array) < num_samples:
        raise UserError(
            f"{path} holds {len(array)} samples; the metrics use num_samples={num_samples} because FID depends on "
            f"the sample size. Give more samples, or num_samples={len(array)} (then compare only with scores of "
            f"{len(array)} samples)."
        )
    images = torch.from_numpy(np.array(array[:num_samples], dtype=np.float32))
    if images.min() >= 0 and images.max() <= 1:
        log.warning("samples=%s lies in [0, 1]; this project's images are in [-1, 1] (x * 2 - 1 converts them), "
                    "and its scores are measured on that scale", path)
    return images


def default_scores_path(ckpt_path: str | os.PathLike | None, samples: str | os.PathLike | None) -> Path:
    """``<run>/checkpoints/last.metrics.json`` beside a checkpoint, ``<name>.metrics.json`` beside samples."""
    source = Path(ckpt_path if ckpt_path is not None else samples)
    return source.with_name(f"{source.stem}.metrics.json")


def write_scores(report: dict[str, Any], path: str | os.PathLike) -> Path:
    text = json.dumps(report, indent=2) + "\n"
    return write_whole(path, lambda file: file.write(text.encode()), FIX)


def format_table(report: dict[str, Any]) -> str:
    metrics, floor = report["metrics"], report.get("real_floor", {})
    # the scores the registry knows (tags.py), the headline ones first; a column of four decimals
    scores = [m for m in tags.MEASURES.values() if m.is_score and m.name in metrics]
    names = [m.name for m in sorted(scores, key=lambda m: not m.headline)]
    lines = [f"{report['num_samples']} samples vs {report['num_reference']} MNIST test images "
             f"(evaluator {report['evaluator']['weights_sha256'][:12]}, "
             f"test accuracy {report['evaluator']['test_accuracy']:.4f})",
             f"{'metric':<18}{'samples':>10}{'real floor':>12}"]
    for name in names:
        real = f"{floor[name]:>12.4f}" if name in floor else ""
        lines.append(f"{name:<18}{metrics[name]:>10.4f}{real}")
    return "\n".join(lines)
