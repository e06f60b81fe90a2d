"""Ctrl-C and SIGTERM end a run at the end of the iteration under way, not in the middle of it.

Python's default Ctrl-C raises wherever the code is, between two of an iteration's updates too,
and Lightning turns SIGTERM into an exit that a scheduler reads as success. Here both signals only
ask the trainer to stop (``trainer.should_stop``): the iteration finishes, and training ends the
normal way, so the end-of-training checkpoint, curves and logs hold a whole iteration. The command
then exits with 128 + the signal's number (130, 143), as a shell reports a killed program.
A second Ctrl-C while the iteration finishes raises KeyboardInterrupt at once.
"""

from __future__ import annotations

import signal
import threading

import lightning as L

SIGNALS = (signal.SIGINT, signal.SIGTERM)


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

    def install(self, trainer: L.Trainer) -> None:
        self.received, self._trainer = None, trainer
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; elsewhere the defaults stay
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.received is not None:
            raise KeyboardInterrupt  # asked twice: stop now
        self.received = signum
        self._trainer.should_stop = True
