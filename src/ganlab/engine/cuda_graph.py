"""A whole training iteration recorded once as a CUDA graph, then replayed: one launch per iteration.

A GAN iteration on small nets is hundreds of small kernels (three forward/backward passes, three
Adam steps), and on a GPU launching them from Python sets the pace, not the arithmetic. A CUDA
graph replays all of them with one call. ``torch.compile(mode="reduce-overhead")`` cannot do this
for a GAN: it graphs each net's calls, and a net's graph output is overwritten by the same net's
next call, while an iteration calls G twice and D three times. So the iteration is captured here
as PyTorch's "whole network capture" recipe describes
(https://pytorch.org/docs/stable/notes/cuda.html#whole-network-capture):
- fixed input memory: each batch is copied into buffers the graph reads;
- no reads of device values on the host inside the iteration: statistics are computed after the
  replay, on log iterations only;
- optimizers that keep their step counters on the device (``capturable=True``, asked for through
  ``Engine.optimizer_options``);
- warm-up before capture, on a side stream, so that optimizer state and cuBLAS/cuDNN workspaces
  exist before recording starts.
Noise drawn inside the graph is fresh at every replay: PyTorch's CUDA generator advances its
offset at each one.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch

Tensors = tuple[torch.Tensor, ...]


def why_not(trainer: L.Trainer, lightning_path: bool) -> str | None:
    """Why the iteration cannot be replayed as a CUDA graph on this trainer, or None if it can."""
    if trainer.strategy.root_device.type != "cuda":
        return f"training runs on {trainer.strategy.root_device.type}, and CUDA graphs exist on CUDA GPUs only"
    if lightning_path:
        return (
            "it needs one device, 32-true or bf16-mixed precision, and no callback or module hook that "
            "watches backward passes or optimizer steps (the graph replays those without hooks)"
        )
    return None


class CapturedIteration:
    """Calls ``step(*inputs)`` eagerly ``warmup`` times, records it on the next call, and from then
    on replays the recording. Returns ``step``'s output tensors; after capture these are the same
    tensors every time, overwritten by each replay (read them before the next call)."""

    def __init__(self, warmup: int = 3):
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._inputs: Tensors | None = None
        self._outputs: Tensors | None = None

    def __call__(self, step: Callable[..., Tensors], *inputs: torch.Tensor) -> Tensors:
        self.calls += 1
        if self._inputs is None:
            self._inputs = tuple(x.clone() for x in inputs)
        else:
            for buffer, x in zip(self._inputs, inputs, strict=True):
                buffer.copy_(x)
        if self.graph is not None:
            self.graph.replay()
            return self._outputs
        if self.calls <= self.warmup:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                outputs = step(*self._inputs)
            torch.cuda.current_stream().wait_stream(side)
            return outputs
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._outputs = step(*self._inputs)
        self.graph = graph
        graph.replay()  # capture only records: this call's iteration runs now
        return self._outputs
