"""Ctrl-C, SIGTERM and SIGHUP end a run at the end of the iteration under way, not in the middle of it.

Python's default Ctrl-C raises wherever the code is, between two of an iteration's updates too,
and Lightning turns SIGTERM into an exit that a scheduler reads as success. Here both signals only
ask the trainer to stop (``trainer.should_stop``): the iteration finishes, and training ends the
normal way, so the end-of-training checkpoint, curves and logs hold a whole iteration. The command
then exits with 128 + the signal's number (130, 143, 129), as a shell reports a killed program.
SIGHUP is what a closed terminal (an ssh session dropped, a laptop lid shut) sends: by default it
would end the process at once and lose everything since the last checkpoint.
A second Ctrl-C while the iteration finishes raises KeyboardInterrupt at once.

SIGUSR1 and SIGUSR2 are what clusters send shortly before a time limit or a preemption (SLURM's
``--signal``; submitit's default is USR2, Lightning's SLURM requeue USR1). They stop the run the
same way; the handler that was there before (submitit's or Lightning's requeue) runs once the
checkpoint is written (``hand_over``), instead of cutting into the middle of an iteration.

Under DDP a signal may reach one rank only (``kill`` of the launching process) or reach the ranks
at different iterations (Ctrl-C): the ranks agree on log iterations, and all stop after the same one.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # light to import: a sweep's launching process reads SIGNALS from here
    import lightning as L

log = logging.getLogger(__name__)

# What stops a run after its iteration; a joblib sweep's launching process passes them on (sweeps.py)
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
REQUEUE_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


class Interrupted(Exception):
    """Training stopped early on a signal; ``exit_code`` is what the command should exit with."""

    def __init__(self, signum: int, iteration: int):
        self.signum, self.iteration = signum, iteration
        self.exit_code = 128 + signum
        super().__init__(f"{signal.Signals(signum).name} stopped training after iteration {iteration}")


class StopAtIterationEnd:
    """Signal handlers that set ``trainer.should_stop``, installed for the duration of a fit."""

    def __init__(self):
        self.received: int | None = None
        self._trainer: L.Trainer | None = None
        self._previous: dict[int, object] = {}
        self._requeue: object = None

    def install(self, trainer: L.Trainer) -> None:
        self.received, self._trainer, self._requeue = None, trainer, None
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; elsewhere the defaults stay
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        if self.received in REQUEUE_SIGNALS:
            self._requeue = self._previous.get(self.received)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def hand_over(self) -> None:
        """Runs the handler a requeue signal had before training (a cluster's requeue: it may exit)."""
        if callable(self._requeue):
            handler, self._requeue = self._requeue, None
            name = signal.Signals(self.received).name
            log.info("%s: training stopped after iteration %d and saved a checkpoint; now the signal's own "
                     "handler runs (%s)", name, self._trainer.global_step, getattr(handler, "__qualname__", handler))
            handler(self.received, None)

    def _handle(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.received == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: stop now
        self.received = self.received or signum  # the first signal says why (a sweep's Ctrl-C also sends SIGTERM)
        if self._trainer.world_size == 1:
            self._trainer.should_stop = True

    def agree(self, trainer: L.Trainer) -> None:
        """Stops every rank if a signal reached any (a collective call, on log iterations)."""
        import torch

        mine = torch.tensor(self.received or 0, device=trainer.strategy.root_device)
        signum = int(trainer.strategy.reduce(mine, reduce_op="max"))
        if signum:
            self.received = signum
            trainer.should_stop = True
