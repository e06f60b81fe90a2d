"""An exponential moving average of G's weights, updated without waiting for the device."""

from __future__ import annotations

from itertools import chain

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class MovingAverage(AveragedModel):
    """torch's ``AveragedModel`` with an EMA of the parameters and buffers of ``model``.

    ``update(model)`` is ``update_parameters(model)`` without its host reads: torch's asks whether
    ``n_averaged`` is 0 at every call, a wait for the GPU each time. Here that is asked once, when
    the tensors to average are gathered (on the first update, and again after the averaged or the
    live weights moved, e.g. to the GPU); later updates apply the same ``multi_avg_fn`` with no
    read. It is an ``AveragedModel``, so checkpoints hold the same keys as torch's.
    """

    def __init__(self, model: nn.Module, decay: float):
        super().__init__(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.requires_grad_(False)
        self._groups: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = []
        self._gathered_at: tuple[int, int] | None = None

    def update(self, model: nn.Module) -> None:
        first = next(model.parameters())
        where = (first.data_ptr(), next(self.module.parameters()).data_ptr())
        if where != self._gathered_at:
            self._gathered_at = where
            self._groups = self._gather(model)
            if int(self.n_averaged) == 0:  # the first update copies the weights
                self.update_parameters(model)
                return
        for averaged, current in self._groups:
            self.multi_avg_fn(averaged, current, self.n_averaged)
        self.n_averaged += 1

    def _gather(self, model: nn.Module) -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
        """(averaged, live) tensors by dtype, as torch groups them (detached views, updated in place)."""
        groups: dict[torch.dtype, tuple[list, list]] = {}
        averaged = chain(self.module.parameters(), self.module.buffers())
        current = chain(model.parameters(), model.buffers())
        for a, c in zip(averaged, current, strict=True):
            group = groups.setdefault(a.dtype, ([], []))
            group[0].append(a.detach())
            group[1].append(c.detach())
        return list(groups.values())
