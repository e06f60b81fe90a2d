from ganlab.callbacks.checkpoint import IterationCheckpoint
from ganlab.callbacks.progress import IterationProgressBar
from ganlab.callbacks.sample_grid import SampleGrid
from ganlab.callbacks.sample_quality import SampleQualityMetrics
from ganlab.callbacks.training_curves import TrainingCurves

__all__ = ["IterationCheckpoint", "IterationProgressBar", "SampleGrid", "SampleQualityMetrics", "TrainingCurves"]
