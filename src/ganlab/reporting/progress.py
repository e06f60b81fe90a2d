"""How a run shows its progress: a bar in a terminal, lines in a file.

In a terminal, one bar over the whole run (``IterationProgressBar``), and every log line is
written above it, never glued onto it. When the output is a file (SLURM, CI, ``> log``) or the bar
is off (``trainer.enable_progress_bar=false``), a line every tenth of the run or every minute,
whichever comes first (``ProgressLines``): iteration, losses, speed (reporting/clock.py) and time left, each on a line
of its own that ``grep`` finds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time

import lightning as L
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from tqdm.contrib.logging import logging_redirect_tqdm

from ganlab import run_record, tags
from ganlab.reporting.clock import TrainingClock
from ganlab.schedule import is_log_iteration

log = logging.getLogger("ganlab")

SHOWN = (tags.D_LOSS, tags.G_LOSS)


def progress_callback(bar_wanted: bool) -> Callback:
    """The bar where a person watches a terminal, else the lines."""
    return IterationProgressBar() if bar_wanted and sys.stdout.isatty() else ProgressLines()


def _latest(trainer: L.Trainer) -> dict[str, float]:
    logged = trainer.callback_metrics
    return {key.split("/")[-1]: float(logged[key]) for key in SHOWN if key in logged}


class IterationProgressBar(TQDMProgressBar):
    """One bar over the whole run, counted in iterations (``trainer.max_steps``), showing it/s and
    the latest logged losses.

    Lightning's default draws a new bar per epoch, which means little when a run is set in
    iterations, and reads its metrics back from the device at every refresh; this one reads them
    only on log iterations, when they change.
    """

    def __init__(self, refresh_rate: int = 10, process_position: int = 0):
        super().__init__(refresh_rate=refresh_rate, process_position=process_position)
        self._postfix: dict[str, str] = {}
        self._undo_logging = None

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        bar = self.train_progress_bar
        bar.reset(total=trainer.max_steps if trainer.max_steps > 0 else None)
        bar.initial = trainer.global_step  # resumed runs start part-way
        bar.n = trainer.global_step
        bar.set_description("Training")
        self._undo_logging = contextlib.ExitStack()
        self._undo_logging.enter_context(log_above(bar))

    def on_train_epoch_start(self, trainer: L.Trainer, *_) -> None:
        pass  # one bar for the run, not one per epoch

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if is_log_iteration(trainer):
            self._postfix = {name: f"{value:.3f}" for name, value in _latest(trainer).items()}
        bar, n = self.train_progress_bar, trainer.global_step
        if bar is None or not self.is_enabled or (n % self.refresh_rate and n != bar.total):
            return
        bar.n = n
        bar.set_postfix(self._postfix, refresh=False)
        bar.refresh()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        pass

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if self._undo_logging is not None:
            self._undo_logging.close()
            self._undo_logging = None
        super().on_train_end(trainer, pl_module)


def log_above(bar) -> contextlib.AbstractContextManager:
    """While it is entered, every console log line is written above ``bar`` (tqdm clears it, writes,
    redraws), never glued onto it: tqdm's own redirect of the console handlers."""
    return logging_redirect_tqdm([logging.getLogger(), log], tqdm_class=type(bar))


class ProgressLines(Callback):
    """A line every tenth of the run or every ``every_seconds``, whichever comes first, on log
    iterations (when the losses are read anyway), and at the last iteration."""

    def __init__(self, every_seconds: float = 60.0):
        self.every_seconds = every_seconds
        self._start = self._last_line = 0.0
        self._first_iteration = 0
        self._next_tenth = 0

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        self._start = self._last_line = time.perf_counter()
        self._first_iteration = trainer.global_step
        self._next_tenth = self._tenth_after(trainer, trainer.global_step)

    def _tenth_after(self, trainer: L.Trainer, iteration: int) -> int:
        tenth = max(1, trainer.max_steps // 10)
        return (iteration // tenth + 1) * tenth

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not trainer.is_global_zero:
            return
        iteration, now = trainer.global_step, time.perf_counter()
        last = iteration == trainer.max_steps
        due = iteration >= self._next_tenth or now - self._last_line >= self.every_seconds
        if not (last or (due and is_log_iteration(trainer))):
            return
        self._next_tenth = self._tenth_after(trainer, iteration)
        self._last_line = now
        done = iteration - self._first_iteration
        clock = next((c for c in trainer.callbacks if isinstance(c, TrainingClock)), None)
        seconds = clock.this_session if clock is not None else now - self._start
        speed = done / seconds if seconds > 0 else float("nan")
        losses = ", ".join(f"{name} {value:.4g}" for name, value in _latest(trainer).items())
        left = (trainer.max_steps - iteration) / speed if speed > 0 else float("nan")
        line = (f"iteration {iteration}/{trainer.max_steps} ({100 * iteration // trainer.max_steps}%): "
                f"{losses or 'losses not logged yet'}, {speed:.1f} it/s, {_duration(left)} left")
        log.info("%s", line)
        if os.environ.get(run_record.ENV):  # a caller's bar (ganlab.train) follows the record, not this line
            run_record.write("training", None, iteration=iteration, max_steps=trainer.max_steps, progress=line)


def _duration(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "unknown time"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"
