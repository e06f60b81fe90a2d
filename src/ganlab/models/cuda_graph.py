"""A whole training iteration recorded once as a CUDA graph, then replayed: one launch per iteration.

An MLP GAN iteration is a few hundred small kernels (three forward/backward passes and three Adam
steps). Eager PyTorch launches each from Python, and on a GPU that host work, not the arithmetic,
sets the pace (benchmarks/speed.py: ~270 it/s eager on an H200 whatever the batch size). A CUDA
graph replays all of them with one call. ``torch.compile(mode="reduce-overhead")`` would graph each
net's passes only, leaving the optimizer steps eager, and it cannot serve a GAN iteration at all (a
net's graph output is overwritten by its next call; see ``GAN.__init__``). So the iteration is
captured here by hand, as PyTorch's "whole network capture" recipe describes
(https://pytorch.org/docs/stable/notes/cuda.html#whole-network-capture).

What capture asks of the iteration, and how this project meets it:
- fixed input memory: each batch is copied into buffers the graph reads (``__call__``);
- no reads of device values on the host: statistics are computed after the replay, on log
  iterations only;
- optimizers that keep their step counters on the device: Adam's ``capturable=True``, set by
  ``GAN.configure_optimizers`` when the graph is on;
- warm-up before capture, on a side stream, so that optimizer state and cuBLAS/cuDNN workspaces
  exist before recording starts.
Random noise is drawn inside the graph: PyTorch's CUDA generator advances its offset at every
replay, so each iteration still gets fresh noise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Tensors = tuple[torch.Tensor, ...]


class CapturedIteration:
    """Calls ``step(*inputs)`` eagerly ``warmup`` times, records it on the next call, and from then
    on replays the recording. Returns ``step``'s output tensors; after capture these are the same
    tensors every time, overwritten by each replay (read them before the next call)."""

    def __init__(self, step: Callable[..., Tensors], warmup: int = 3):
        self.step = step
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._inputs: Tensors | None = None
        self._outputs: Tensors | None = None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, *inputs: torch.Tensor) -> Tensors:
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
                outputs = self.step(*self._inputs)
            torch.cuda.current_stream().wait_stream(side)
            return outputs
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._outputs = self.step(*self._inputs)
        self.graph = graph
        graph.replay()  # capture only records: this call's iteration runs now
        return self._outputs
