"""Sample quality metrics for MNIST GANs, measured with a classifier trained on MNIST itself."""

from ganlab.metrics.classifier import MNISTClassifier, TrainingSettings
from ganlab.metrics.evaluator_cache import EvaluatorCacheError, EvaluatorTooWeakError, load_evaluator, train_evaluator
from ganlab.metrics.quality import SampleQuality, real_training_images

__all__ = [
    "EvaluatorCacheError",
    "EvaluatorTooWeakError",
    "MNISTClassifier",
    "SampleQuality",
    "TrainingSettings",
    "load_evaluator",
    "real_training_images",
    "train_evaluator",
]
