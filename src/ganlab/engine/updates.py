"""One update (gradients of a loss, then one optimizer step), through Lightning or directly.

Lightning's path (``manual_backward`` and ``Strategy.optimizer_step``) runs the strategy's and the
precision plugin's part of a backward pass and a step: DDP's gradient reduction, fp16's loss
scaling, and the hooks in ``STEP_HOOKS`` on the module and on every callback. When there is none
of that to do (one device, a precision plugin that adds nothing, no hook overridden), the direct
path, ``loss.backward()`` and ``optimizer.step()``, is the same computation without the dispatch.
Neither path counts the step: the engine counts iterations (counting.py).
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden

# What Lightning calls around every backward pass and optimizer step, on the module and on each
# callback (tests/test_engine.py fails if Lightning calls another one there).
STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def needs_lightning_path(trainer: L.Trainer, module: L.LightningModule) -> bool:
    """Whether updates must go through Lightning's strategy and precision plugin."""
    plugin = trainer.precision_plugin
    plain_precision = type(plugin) is Precision or (type(plugin) is MixedPrecision and plugin.scaler is None)
    listened = any(is_overridden(hook, module, L.LightningModule) for hook in (*STEP_HOOKS, "backward")) or any(
        is_overridden(hook, callback, L.Callback) for callback in trainer.callbacks for hook in STEP_HOOKS
    )
    return listened or not plain_precision or type(trainer.strategy) is not SingleDeviceStrategy


def lightning_update(module: L.LightningModule, optimizer: LightningOptimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    module.manual_backward(loss)
    # What LightningOptimizer.step() does, less its step count
    module.trainer.strategy.optimizer_step(optimizer.optimizer, closure=_nothing)


def direct_update(optimizer: LightningOptimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.optimizer.step()


def _nothing() -> None:
    """The closure: the backward pass has already run."""
