"""Lightning's TensorBoard logger with a description on every chart, and a reader for what it wrote.

TensorBoard keeps a tag's metadata from the first event it reads for it and shows its description
on the chart (the (i) beside a card's title). Lightning's ``log_metrics`` and torch's ``add_scalar``
take no description, so the first value of each tag is written here with its registered one (tags.py), as
a tensor summary: TensorBoard's fast loader (its Rust data server, used when installed) drops the
description of a plain ``simple_value``. Every later value goes through Lightning as usual. A run's
first session start is marked too, so that TensorBoard replaces a resumed run's cut-short steps.

``read_scalars`` reads both kinds, as TensorBoard does (its plugin event accumulator); the legacy
``EventAccumulator.Scalars`` would miss each tag's first value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from torch.utils.tensorboard.summary import scalar

from ganlab import tags


class DescribedTensorBoardLogger(TensorBoardLogger):
    def __init__(self, *args: Any, prefix: str = "", purge_step: int | None = None, **kwargs: Any):
        super().__init__(*args, prefix=prefix, purge_step=purge_step, **kwargs)
        self.tag_prefix = f"{prefix}{self.LOGGER_JOIN_CHAR}" if prefix else ""
        self.described: set[str] = set()
        self.session_marked = purge_step is not None  # torch marks a resumed session's start itself

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        if not self.session_marked:
            # TensorBoard drops a resumed run's cut-short steps when it sees a second session start
            # (torch writes the resume's, at its purge step); the first is this one.
            self.experiment.file_writer.add_event(Event(step=0, session_log=SessionLog(status=SessionLog.START)))
            self.session_marked = True
        rest = {}
        for name, value in metrics.items():
            description = tags.description(name)
            if description is None or name in self.described or isinstance(value, Mapping):
                rest[name] = value
                continue
            value = float(value.item() if isinstance(value, torch.Tensor) else value)
            summary = scalar(self.tag_prefix + name, value, new_style=True)  # metadata: the scalars plugin
            summary.value[0].metadata.summary_description = description
            self.experiment.file_writer.add_summary(summary, step)
            self.described.add(name)
        if rest:
            super().log_metrics(rest, step)


class Point(NamedTuple):
    step: int
    wall_time: float
    value: float


def read_scalars(folder: str | Path) -> dict[str, list[Point]]:
    """Every scalar a run's event files hold, by tag, in order of writing."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})  # 0: keep every point
    events.Reload()
    scalars = [tag for tag in sorted(events.Tags()["tensors"])
               if events.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"]
    return {tag: [Point(e.step, e.wall_time, float(tensor_util.make_ndarray(e.tensor_proto)))
                  for e in events.Tensors(tag)] for tag in scalars}
