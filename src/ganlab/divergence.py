"""A run whose losses or weights stop being finite stops, and nothing is written from it.

Checked where values are read anyway or something is about to be written: the losses on log
iterations (they are read back for logging then), the weights before a checkpoint, a sample grid
or an evaluation. So a GPU run waits for no extra value between log iterations, and no file holds
non-finite weights.
"""

from __future__ import annotations

import math

import lightning as L
import torch


class Diverged(RuntimeError):
    """Training produced non-finite values; the message says where and what to resume from."""


# Far beyond any healthy GAN loss (BCE, hinge and LSGAN losses are of order 1, WGAN critics' of
# order 10-100), yet finite: a run on its way to NaN, e.g. with a learning rate of 1e6.
EXPLODING = 1e6


def check_losses(trainer: L.Trainer, **losses: torch.Tensor) -> str | None:
    """Raises ``Diverged`` for a non-finite loss; returns a warning for finite but exploding ones."""
    values = {name: float(value) for name, value in losses.items()}
    if all(math.isfinite(v) for v in values.values()):
        huge = {name: v for name, v in values.items() if abs(v) > EXPLODING}
        if not huge:
            return None
        shown = ", ".join(f"{name} {value:.3g}" for name, value in huge.items())
        return (f"losses are exploding at iteration {trainer.global_step} ({shown}): the run is likely diverging. "
                "Lower the learning rates (model.optimizer_g.lr, model.optimizer_d.lr) if it does not recover.")
    shown = ", ".join(f"{name} {value:.4g}" for name, value in values.items())
    raise Diverged(f"training diverged at iteration {trainer.global_step}: {shown}. {_what_to_do(trainer)}")


def check_weights(trainer: L.Trainer, module: torch.nn.Module, before: str) -> None:
    """Raises ``Diverged`` if any parameter or buffer of ``module`` is not finite (one read)."""
    tensors = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    if not tensors or bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
        return
    raise Diverged(
        f"training diverged by iteration {trainer.global_step}: the weights are not finite, so no {before} "
        f"was written from them. {_what_to_do(trainer)}"
    )


def non_finite(state: dict[str, torch.Tensor]) -> str | None:
    """The non-finite floating-point tensors of a checkpoint's ``state_dict`` as a short list for a
    message ("generator.net.0.weight, ..."), or None if all are finite."""
    broken = [name for name, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    return f"{', '.join(broken[:3])}{', ...' if len(broken) > 3 else ''}" if broken else None


def _what_to_do(trainer: L.Trainer) -> str:
    # this fit's newest checkpoint, else the one it resumed from
    checkpoint = getattr(trainer.checkpoint_callback, "last_model_path", "") or trainer.ckpt_path
    where = f"The last good checkpoint is {checkpoint}" if checkpoint else "No checkpoint was written before it"
    return f"{where}. Lower the learning rates (model.optimizer_g.lr, model.optimizer_d.lr) and train again."
