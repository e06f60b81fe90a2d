"""``trainer.global_step`` is the iteration number: how it is advanced, checked, and read.

Under manual optimization Lightning would count every optimizer step, so the book's three updates
per iteration would end a ``max_steps=20000`` run after 6,667 iterations. The engine's updates
step the optimizers without Lightning's count (updates.py) and ``count_iteration`` advances it
once per iteration. So ``trainer.max_steps``, the checkpoint, grid and evaluation intervals,
``log_every_n_steps`` and TensorBoard's x-axis all count iterations (ganlab/schedule.py reads them).
"""

from __future__ import annotations

import lightning as L

from ganlab.engine import private_apis

# The Lightning minor version whose step counting the tests last ran on (pyproject.toml caps it).
TESTED_LIGHTNING = "2.6"


class IterationCountError(RuntimeError):
    """Lightning's step counter did not advance by exactly one in an iteration."""


def count_iteration(module: L.LightningModule, before: int) -> None:
    """Advances ``trainer.global_step`` from ``before`` (its value when the iteration started) by
    one, and stops the run at once if it did not end up there: a Lightning that counts steps
    differently would otherwise never reach ``max_steps`` and train forever, or stop early."""
    private_apis.count_optimizer_step(module.optimizers()[0])
    after = module.trainer.global_step
    if after != before + 1:
        raise IterationCountError(
            f"trainer.global_step went from {before} to {after} in one training iteration; it must advance by "
            f"exactly one. Lightning {L.__version__} counts optimizer steps differently from Lightning "
            f"{TESTED_LIGHTNING}, which this project is tested on: install 'lightning>={TESTED_LIGHTNING},"
            f"<{_next_minor(TESTED_LIGHTNING)}' (see src/ganlab/engine/private_apis.py)"
        )


def _next_minor(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}"
