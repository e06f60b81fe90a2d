"""Lightning's TensorBoard logger, with a description on every chart.

TensorBoard keeps a tag's metadata from the first event it reads for it and shows its description
on the chart (the (i) beside a card's title). Lightning's ``log_metrics`` and torch's ``add_scalar``
take no description, so the first value of each tag is written here with one (ganlab/tags.py);
every later value goes through Lightning as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from tensorboard.plugins.scalar.metadata import create_summary_metadata
from torch.utils.tensorboard.summary import scalar

from ganlab import tags


class DescribedTensorBoardLogger(TensorBoardLogger):
    def __init__(self, *args: Any, prefix: str = "", **kwargs: Any):
        super().__init__(*args, prefix=prefix, **kwargs)
        self.tag_prefix = f"{prefix}{self.LOGGER_JOIN_CHAR}" if prefix else ""
        self.described: set[str] = set()

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        rest = {}
        for name, value in metrics.items():
            description = tags.DESCRIPTIONS.get(name)
            if description is None or name in self.described or isinstance(value, Mapping):
                rest[name] = value
                continue
            tag = self.tag_prefix + name
            summary = scalar(tag, float(value.item() if isinstance(value, torch.Tensor) else value))
            summary.value[0].metadata.CopyFrom(create_summary_metadata(display_name=tag, description=description))
            self.experiment.file_writer.add_summary(summary, step)
            self.described.add(name)
        if rest:
            super().log_metrics(rest, step)
