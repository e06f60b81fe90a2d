"""What a run prints: where it goes, what it trains, and a summary at the end; without the
libraries' start-up chatter."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

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
def summarise(trainer: L.Trainer, run_dir: str | Path, first_iteration: int, seconds: float, metrics: dict) -> None:
    run_dir = Path(run_dir)
    done = trainer.global_step - first_iteration
    log.info("Trained iterations %d-%d in %.1f s (%.1f it/s)", first_iteration, trainer.global_step, seconds,
             done / seconds if seconds > 0 else float("nan"))
    shown = [f"{key.removeprefix('train/')} {metrics[key]:.4g}" for key in ("train/d_loss", "train/g_loss",
             "train/d_accuracy") if key in metrics]
    shown += [f"{key} {value:.4g}" for key, value in metrics.items()
              if key.startswith("eval/") and not any(part in key for part in ("class_share_", "_std", "seconds"))]
    if shown:
        log.info("Final: %s", ", ".join(shown))
    grids = sorted((run_dir / "samples").glob("iter_*.png"))
    if grids:
        log.info("Last sample grid: %s", grids[-1])
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        log.info("Checkpoint: %s", last)
    if any(isinstance(logger, TensorBoardLogger) for logger in trainer.loggers):
        log.info("TensorBoard: tensorboard --logdir %s", run_dir)
