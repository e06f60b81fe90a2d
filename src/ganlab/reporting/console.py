"""What a run prints: where it goes, what it trains, and a summary at the end; without the
libraries' start-up chatter."""

from __future__ import annotations

import logging
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from hydra.experimental.callback import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from ganlab import tags
from ganlab.stopping.sweeps import in_a_sweep

log = logging.getLogger("ganlab")

# Lightning's INFO lines at start-up (GPU/TPU available, a LitLogger advert, LOCAL_RANK, "max_steps
# reached"): what they say is in the run's config or in the summary below.
_CHATTY = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda")


def quiet_libraries() -> None:
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Lightning 2.6's own use of a torch API deprecated in torch 2.10: nothing a user can act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")


@rank_zero_only
def announce(run_dir: str | Path, module: L.LightningModule, resumed_from: str | None) -> None:
    log.info("Run folder: %s", run_dir)
    if resumed_from:
        log.info("Resuming from %s", resumed_from)
    nets = [(name, getattr(module, name)) for name in ("generator", "discriminator")]
    log.info("Training %s", ", ".join(
        f"{name} {type(net).__name__} ({sum(p.numel() for p in net.parameters()):,} parameters)" for name, net in nets))


@rank_zero_only
def summarise(trainer: L.Trainer, run_dir: str | Path, first_iteration: int, training_seconds: float,
              wall_seconds: float, metrics: dict) -> None:
    """``training_seconds``: the iterations alone (reporting/clock.py); ``wall_seconds``: the whole fit."""
    run_dir = Path(run_dir)
    done = trainer.global_step - first_iteration
    if done == 0:  # started again after its end (a rerun, a requeue): its results are what it logged then
        log.info("Nothing left to train: the run had trained all %d iterations (trainer.max_steps); a larger "
                 "trainer.max_steps trains on. Its results:", trainer.global_step)
    else:
        log.info("Trained iterations %d-%d in %.1f s of training (%.1f it/s); %.1f s wall, start-up, evaluation and "
                 "checkpoints included", first_iteration, trainer.global_step, training_seconds,
                 done / training_seconds if training_seconds > 0 else float("nan"), wall_seconds)
    # the headline measures (tags.py): the game's on one line, the samples' scores one a line
    shown = [m for m in tags.headline() if m.tag in metrics]
    if game := [f"{m.label} {m.shown(metrics[m.tag])}" for m in shown if not m.is_score]:
        log.info("Final: %s", ", ".join(game))
    if scores := [m for m in shown if m.is_score]:
        log.info("Sample quality at iteration %d (real MNIST images score the value in brackets):", trainer.global_step)
        for m in scores:
            floor = metrics.get(f"floor/{m.name}")
            real = f" [{m.shown(floor)}]" if floor is not None else ""
            better = f"  ({m.better} is better)" if m.better else ""
            log.info("  %-22s %8s%s%s", m.label, m.shown(metrics[m.tag]), real, better)
    grids = sorted((run_dir / "samples").glob("iter_*.png"))
    if grids:
        log.info("Last sample grid: %s", grids[-1])
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        log.info("Checkpoint: %s", last)
    if any(isinstance(logger, TensorBoardLogger) for logger in trainer.loggers) and not in_a_sweep():
        log.info("TensorBoard: %s", tensorboard_command(run_dir))


def last_logged(run_dir: Path) -> dict[str, float]:
    """Each scalar's last value in the run's TensorBoard events (tags as logged)."""
    from ganlab.reporting.tensorboard import read_scalars

    return {tag: points[-1].value for tag, points in read_scalars(run_dir).items() if points}


def tensorboard_command(folder: str | Path) -> str:
    """A command that works from a fresh shell, quoted for it: the venv's tensorboard by its path, the
    run named by its folder (``--logdir_spec``: with ``--logdir`` on one run, TensorBoard would name
    it ``.``). A spec splits at commas and its name ends at the first colon, so a folder with either
    is given as ``--logdir``."""
    folder = Path(folder).resolve()
    tensorboard = shlex.quote(str(Path(sys.executable).parent / "tensorboard"))
    if "," in str(folder) or ":" in folder.name:
        return f"{tensorboard} --logdir {shlex.quote(str(folder))}"
    return f"{tensorboard} --logdir_spec {shlex.quote(f'{folder.name}:{folder}')}"


class SweepSummary(Callback):
    """The launching process's last lines after a sweep: its folder, what its scores tell apart
    from seed noise (the report's verdicts), TensorBoard on all its jobs, and its one-page report
    (conf/hydra/default.yaml: ``hydra.callbacks``)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir).resolve()
        log.info("Sweep folder: %s", folder)
        try:
            from ganlab.reporting.sweep_page import Study, read_sweep

            # the sweep's own config names its callbacks: their measures say which way is better. (The
            # report command, given any folder, imports nothing it names.)
            tags.import_measures_of(config)
            lines = Study(*read_sweep(folder)).lines()
        except Exception as err:  # noqa: BLE001  the jobs have run: a folder it cannot read is one line, not a traceback
            lines = []
            log.warning("Could not compare the sweep's settings (%s: %s); its page may say more", type(err).__name__, err)
        for line in lines:
            log.info(line)
        log.info("TensorBoard: %s --logdir %s", shlex.quote(str(Path(sys.executable).parent / "tensorboard")),
                 shlex.quote(str(folder)))
        # make hands ARGS to a shell: a folder that needs quoting is quoted for that shell too
        log.info("Its page: make report ARGS=%s", shlex.quote(shlex.quote(str(folder))))
