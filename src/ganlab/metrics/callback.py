from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import lightning as L

from ganlab import tags
from ganlab.errors import UserError
from ganlab.metrics import SampleQuality, load_evaluator
from ganlab.metrics.evaluator_cache import train_in_a_process_of_its_own
from ganlab.schedule import ends_interval
from ganlab.divergence import check_weights
from ganlab.whole_files import NotWritten, write_whole

log = logging.getLogger(__name__)


class SampleQualityMetrics(L.Callback):
    """Every ``every_n_iterations`` and after the last iteration, draws ``num_samples`` images from G
    and scores them against the MNIST test set with the MNIST evaluator (ganlab.metrics): logged
    under ``4_quality/`` and ``5_digits/`` (tags.py); the last evaluation's are its ``results``, whose
    headline numbers become ``final/*`` for HPARAMS (reporting/finals.py).

    Rank 0 scores alone (the other ranks wait at their next synchronisation). The samples always
    come from the same noise seed, so two evaluations differ only by the generator.
    """

    def __init__(
        self,
        data_dir: str,
        every_n_iterations: int = 5000,
        num_samples: int = 10_000,
        seed: int = 0,
        min_evaluator_accuracy: float = 0.99,
    ):
        if every_n_iterations < 1:
            raise UserError(f"eval_interval={every_n_iterations}: give 1 or more iterations; to switch it off, "
                            "callbacks.sample_quality=null")
        self.data_dir = data_dir
        self.every_n_iterations = every_n_iterations
        self.num_samples, self.seed = num_samples, seed
        self.min_evaluator_accuracy = min_evaluator_accuracy
        self.quality: SampleQuality | None = None
        self.latest: dict[str, float] = {}
        self.results: dict[str, float] = {}  # the last evaluation as logged; train() returns these
        self.evaluated_at: int | None = None

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero or self.quality is not None:
            return
        # First use trains the evaluator (a minute on a CPU) and caches it beside the data.
        train_in_a_process_of_its_own(self.data_dir, pl_module.device)
        log.info("Loading the MNIST evaluator and the test images' features (a few seconds)")
        evaluator, meta = load_evaluator(
            self.data_dir, train_if_missing=False, device=pl_module.device, min_accuracy=self.min_evaluator_accuracy
        )
        self.quality = SampleQuality.for_mnist(self.data_dir, evaluator=evaluator)
        self.evaluator_sha256 = meta["weights_sha256"]
        # Scores compare only under the same evaluator: say which one this run uses.
        log.info("sample quality: MNIST evaluator %s (test accuracy %.4f), %d samples vs the %d test images",
                 meta["weights_sha256"][:12], meta["test_accuracy"], self.num_samples, self.quality.num_reference)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if ends_interval(trainer, self.every_n_iterations):
            self.evaluate(trainer, pl_module)

    def evaluate(self, trainer: L.Trainer, pl_module) -> dict[str, float] | None:
        if not trainer.is_global_zero:
            return None
        check_weights(trainer, pl_module, before="evaluation")
        log.info("iteration %d: scoring %d samples (a few seconds)", trainer.global_step, self.num_samples)
        start = time.perf_counter()
        labels = pl_module.balanced_labels(self.num_samples)  # None unless G is conditional
        images = pl_module.sample(n=self.num_samples, seed=self.seed, labels=labels)
        try:
            scores = self.quality.score(images, labels)
        except ValueError as err:  # samples it cannot score (e.g. an overflow) are a result to record
            log.warning("iteration %d: samples could not be scored: %s", trainer.global_step, err)
            scores = {"fid": float("nan")}
        self.latest = scores
        metrics = {tags.score(k): float(v) for k, v in scores.items() if not k.startswith("num_")}
        metrics[tags.EVALUATION_SECONDS] = time.perf_counter() - start
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        self.results, self.evaluated_at = metrics, trainer.global_step  # a search's trial reports these
        log.info("iteration %d: FID %.3f, classifier score %.2f (%d samples, %.1f s)", trainer.global_step,
                 scores.get("fid", float("nan")), scores.get("classifier_score", float("nan")),
                 self.num_samples, metrics[tags.EVALUATION_SECONDS])
        return scores

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if not trainer.is_global_zero or not self.latest:
            return
        # what real images score, for the summary to show beside each metric (cached: seconds once)
        self.results.update({f"floor/{k}": v for k, v in self.real_floor().items()})

    def real_floor(self) -> dict[str, float]:
        """The scores of ``num_samples`` real training images under this evaluator, computed once
        and kept beside it (``<data_dir>/evaluator/real_floor_<n>.json``)."""
        path = Path(self.data_dir) / "evaluator" / f"real_floor_{self.num_samples}.json"
        evaluator = self.evaluator_sha256
        try:
            saved = json.loads(path.read_text())
            if saved.get("evaluator_sha256") == evaluator:
                return saved["metrics"]
        except (OSError, ValueError, KeyError):
            pass
        log.info("Scoring %d real training images once, for the summary to compare with", self.num_samples)
        floor = {k: float(v) for k, v in self.quality.real_floor(self.data_dir, n=self.num_samples).items()
                 if not k.startswith("num_")}
        text = json.dumps({"evaluator_sha256": evaluator, "metrics": floor}, indent=2) + "\n"
        try:  # parallel jobs may write it at once: shared
            write_whole(path, lambda file: file.write(text.encode()), shared=True, fix="")
        except NotWritten as err:  # a cache of what is scored anyway: the run goes on
            log.warning("The real-data floor is not cached (%s): it is scored again at the end of each run; give "
                        "paths.data_dir= a folder you can write to keep it", err.cause.strerror or err.cause)
        return floor
