"""When an iteration logs its statistics, draws a grid, scores samples or writes a checkpoint.

``trainer.global_step`` is the iteration number (the engine counts it: engine/engine.py), so
every interval in the configs is in iterations, and the last iteration always ends one.
"""

from __future__ import annotations

import lightning as L


def ends_interval(trainer: L.Trainer, every: int) -> bool:
    """Whether the iteration just finished is one of every ``every``, or the last one: when
    statistics are logged, grids drawn and samples scored."""
    iteration = trainer.global_step
    return (every > 0 and iteration % every == 0) or iteration == trainer.max_steps


def is_log_iteration(trainer: L.Trainer) -> bool:
    """Whether the iteration just finished logs its statistics. The module and the callbacks that
    read what it logged share this one rule."""
    return ends_interval(trainer, trainer.log_every_n_steps)
