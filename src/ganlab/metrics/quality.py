"""Sample quality of MNIST digits, measured in the space of the MNIST evaluator (evaluator_cache.py).

``SampleQuality(evaluator, reference).score(images)`` returns plain numbers:

- ``fid``: Fréchet distance between the evaluator's 128-d features of the samples and of the
  reference (TF-GAN's mnist_frechet_distance, "Fréchet LeNet distance"); lower is better.
- ``classifier_score``, ``classifier_score_std``: the Inception Score over the evaluator's
  logits (TF-GAN's mnist_score), mean and std over 10 splits; 10 at best, 1 for one class.
- ``precision``, ``recall``: improved precision and recall (Kynkäänniemi et al. 2019, k=3) in the
  same features: how many samples look real, and how much of the real data the samples cover.
- ``class_share_0`` ... ``class_share_9``, ``min_class_share``, ``class_kl``: the evaluator's
  verdict on which digits were drawn; ``class_kl`` is KL(drawn classes || uniform) in nats, 0 when
  balanced and log(10) = 2.303 when the generator has collapsed to one digit.
- ``num_samples``, ``num_reference``: the sample sizes behind every number (FID is biased by N,
  so only scores with equal N compare).

``real_floor`` scores real training images the same way: the best a generator could hope for.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore

from ganlab.data import load_mnist, scale_pixels
from ganlab.errors import UserError
from ganlab.metrics.classifier import MNISTClassifier
from ganlab.metrics.evaluator_cache import load_evaluator
from ganlab.metrics.reference_cache import kept_or_computed, reference_key

NUM_CLASSES = 10
DEFAULT_SAMPLES = 10_000


class _Precomputed(nn.Module):
    """The "feature extractor" handed to torchmetrics: the evaluator's outputs, already computed.

    Each image then goes through the CNN once for all the metrics instead of once per metric.
    float64 because torchmetrics returns FID in the dtype of the features (its sums are float64
    either way), and so the softmax of the classifier score cannot underflow to an exact 0.
    """

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.double()


class SampleQuality:
    """Scores sets of generated images against a fixed reference set of real images.

    The reference's features, their k-NN radii and their FID statistics are computed once here;
    each ``score`` then costs one pass of the evaluator over the samples plus the distances.
    """

    def __init__(
        self,
        evaluator: MNISTClassifier,
        reference: torch.Tensor | np.ndarray,
        k: int = 3,
        splits: int = 10,
        batch_size: int = 1000,
        cache: str | os.PathLike | None = None,
    ):
        """``cache``: a file that keeps the reference's features and radii for the next run
        (reference_cache.py); without it they are computed here each time."""
        self.evaluator = evaluator.eval()  # batch norm and dropout must not act on the samples
        self.device = next(evaluator.parameters()).device
        self.k, self.splits, self.batch_size = k, splits, batch_size
        reference = as_images(reference)

        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            features, _ = self.embed(reference)
            return features, knn_radii(features, k, batch_size)

        if cache is None:
            features, radii = compute()
        else:
            key = reference_key(evaluator, reference, self.device, batch_size, k)
            features, radii = kept_or_computed(Path(cache), key, compute)
        self.reference_features, self.reference_radii = features.to(self.device), radii.to(self.device)
        self.num_reference = len(self.reference_features)
        # sync_on_compute=False: each process scores the images it was given. Under DDP the default
        # would gather the other ranks' states and hang when only rank zero scores.
        self.fid = FrechetInceptionDistance(
            feature=_Precomputed(evaluator.num_features), reset_real_features=False, sync_on_compute=False
        ).to(self.device)
        self.fid.update(self.reference_features, real=True)
        with warnings.catch_warnings():
            # It warns that it keeps all inputs; here that is N x 10 logits, a few hundred KB.
            warnings.filterwarnings("ignore", "Metric `InceptionScore` will save all extracted features")
            self.classifier_score = InceptionScore(
                feature=_Precomputed(NUM_CLASSES), splits=splits, sync_on_compute=False
            ).to(self.device)

    @classmethod
    def for_mnist(
        cls,
        data_dir: str | os.PathLike,
        evaluator: MNISTClassifier | None = None,
        device: str | torch.device = "cpu",
        **kwargs,
    ) -> SampleQuality:
        """Against all 10,000 MNIST test images, with ``evaluator`` or else the cached one on ``device``
        (trained on first use); their features are kept beside the evaluator."""
        if evaluator is None:
            evaluator, _ = load_evaluator(data_dir, device=device)
        images, _ = load_mnist(data_dir, "test")
        device_type = next(evaluator.parameters()).device.type
        cache = Path(data_dir) / "evaluator" / f"reference_test_{device_type}.pt"
        return cls(evaluator, scale_pixels(images), cache=cache, **kwargs)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [N, 128], logits [N, 10]) on the evaluator's device, in batches."""
        features, logits = [], []
        for batch in images.split(self.batch_size):
            f = self.evaluator.features(batch.to(self.device))
            features.append(f)
            logits.append(self.evaluator.classify(f))
        return torch.cat(features), torch.cat(logits)

    @torch.no_grad()
    def score(self, images: torch.Tensor | np.ndarray, labels: torch.Tensor | None = None) -> dict[str, float]:
        """The metrics of ``images`` [N, 1, 28, 28] or [N, 28, 28], floats in [-1, 1] like G's output.

        ``labels``: the digits a conditional generator was asked for; adds ``label_accuracy`` (the
        share the evaluator reads as the digit asked for) and ``min_label_accuracy`` (the worst digit's).
        """
        images = as_images(images)
        n = len(images)
        if n <= self.k or n < max(self.splits, 2):
            raise UserError(f"{n} images are too few to score: give more than k={self.k} and splits={self.splits} "
                             f"(the metrics are meant for {DEFAULT_SAMPLES})")
        features, logits = self.embed(images)

        self.fid.reset()  # drops the previous samples' statistics, keeps the reference's
        for batch in features.split(self.batch_size):
            self.fid.update(batch, real=False)
        fid = float(self.fid.compute())

        self.classifier_score.reset()
        self.classifier_score.update(logits)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # it shuffles before splitting; a fixed shuffle makes scores repeatable
            cs_mean, cs_std = self.classifier_score.compute()

        precision = coverage(features, self.reference_features, self.reference_radii, self.batch_size)
        recall = coverage(self.reference_features, features, knn_radii(features, self.k, self.batch_size),
                          self.batch_size)

        predicted = logits.argmax(1)
        shares = torch.bincount(predicted, minlength=NUM_CLASSES).double() / n
        class_kl = float(torch.special.xlogy(shares, shares).sum()) + math.log(NUM_CLASSES)
        conditional = {}
        if labels is not None:
            labels = torch.as_tensor(labels, device=predicted.device)
            if labels.shape != (n,):
                raise UserError(f"labels have shape {tuple(labels.shape)}; give one digit per image, ({n},)")
            hits = (predicted == labels).double()
            per_digit = [hits[labels == d].mean() for d in range(NUM_CLASSES) if (labels == d).any()]
            conditional = {"label_accuracy": float(hits.mean()), "min_label_accuracy": float(min(per_digit))}
        return {
            "fid": fid,
            "classifier_score": float(cs_mean),
            "classifier_score_std": float(cs_std),
            "precision": precision,
            "recall": recall,
            **{f"class_share_{c}": float(shares[c]) for c in range(NUM_CLASSES)},
            "min_class_share": float(shares.min()),
            "class_kl": max(class_kl, 0.0),  # clamps a -1e-16 rounding of a perfectly balanced set
            **conditional,
            "num_samples": n,
            "num_reference": self.num_reference,
        }

    def real_floor(self, data_dir: str | os.PathLike, n: int = DEFAULT_SAMPLES, seed: int = 0) -> dict[str, float]:
        """The metrics of ``n`` real training images: what a perfect generator would score."""
        return self.score(real_training_images(data_dir, n, seed))


def real_training_images(data_dir: str | os.PathLike, n: int = DEFAULT_SAMPLES, seed: int = 0) -> torch.Tensor:
    """A fixed, seeded subset of ``n`` MNIST training images as [n, 1, 28, 28] in [-1, 1]."""
    images, _ = load_mnist(data_dir, "train")
    if not 0 < n <= len(images):
        raise UserError(f"n={n}: MNIST has {len(images)} training images")
    keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return scale_pixels(images[keep])


def as_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Checks and shapes images to float32 [N, 1, 28, 28]; a mistake here would skew every metric silently."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not torch.is_floating_point(images):
        raise UserError(f"images have dtype {images.dtype}; give floats in [-1, 1] "
                         "(uint8 MNIST images: scale them with ganlab.data.scale_pixels)")
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise UserError(f"images have shape {tuple(images.shape)}; give [N, 1, 28, 28] or [N, 28, 28]")
    if not torch.isfinite(images).all():
        raise UserError("images contain NaN or inf (has the generator diverged?)")
    low, high = float(images.min()), float(images.max())
    if low < -1.001 or high > 1.001:
        raise UserError(
            f"images range over [{low:.3g}, {high:.3g}]; give them in [-1, 1] as the generator's tanh does"
        )
    return images.float()


# torchmetrics has no improved precision/recall, hence these two. Distances go chunk by chunk through
# torch.cdist, so 10k x 10k needs a [batch_size, 10k] block at a time, not a 10k x 10k matrix.
def knn_radii(features: torch.Tensor, k: int, batch_size: int = 1000) -> torch.Tensor:
    """Each point's distance to its k-th nearest neighbour in its own set, itself not counted."""
    if len(features) <= k:
        raise UserError(f"{len(features)} points have no {k}-th nearest neighbour besides themselves")
    # kthvalue(k + 1): the smallest distance in each row is the point to itself (0).
    return torch.cat([torch.cdist(chunk, features).kthvalue(k + 1, dim=1).values
                      for chunk in features.split(batch_size)])


def coverage(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of ``queries`` inside at least one ball around ``points`` with their ``radii``.

    Precision: generated queries in the real balls; recall: real queries in the generated balls.
    """
    inside = [(torch.cdist(chunk, points) <= radii).any(dim=1) for chunk in queries.split(batch_size)]
    return float(torch.cat(inside).double().mean())
