"""Which iterations log their statistics, draw a grid and score samples: the rule the module and
the callbacks share.

``trainer.global_step`` is the iteration number (the engine counts it), so every interval in the
configs is in iterations, and the last iteration always ends one. Checkpoints are written on
Lightning's own trigger (``ModelCheckpoint``'s ``every_n_train_steps``, on the same count);
``IterationCheckpoint`` asks ``ends_interval`` only to check the weights before them.
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
