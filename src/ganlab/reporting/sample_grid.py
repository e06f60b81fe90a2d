from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger
from PIL import Image
from torchvision.utils import make_grid, save_image

from ganlab.errors import UserError
from ganlab.schedule import ends_interval
from ganlab.safety.divergence import check_weights


def send_grid(logger, grid, iteration: int) -> None:
    """The grid to every logger that takes images: TensorBoard, MLflow, Weights & Biases (CSV takes none)."""
    if isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image("samples", grid, global_step=iteration)
    elif isinstance(logger, MLFlowLogger):
        pixels = (grid.permute(1, 2, 0).clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
        logger.experiment.log_image(logger.run_id, pixels, key="samples", step=iteration)
    elif isinstance(logger, WandbLogger):
        logger.log_image(key="samples", images=[grid], step=iteration)


class SampleGrid(L.Callback):
    """Every ``every_n_iterations`` (and after the last), draws G's images for the module's fixed
    noise as a grid: to TensorBoard's IMAGES tab and as ``<dirpath>/iter_NNNNNN.png``. A
    conditional G draws one row per digit. When training ends, the grids so far (a resumed run's
    earlier ones too) become ``<dirpath>/training.gif``: the same digits taking shape.

    Runs on rank 0 only: sampling needs no other rank, and one process writes the files.
    """

    def __init__(self, dirpath: str, every_n_iterations: int = 1000, nrow: int | None = None):
        if every_n_iterations < 1:
            raise UserError(f"sample_interval={every_n_iterations}: it must be at least 1 iteration")
        self.dirpath = Path(dirpath)
        self.every_n_iterations = every_n_iterations
        self.nrow = nrow

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if ends_interval(trainer, self.every_n_iterations):
            self.draw(trainer, pl_module, trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.animate()

    def animate(self, seconds_per_frame: float = 0.25) -> Path | None:
        frames = sorted(self.dirpath.glob("iter_*.png"))
        if len(frames) < 2:
            return None
        images = [Image.open(frame).convert("P") for frame in frames]
        path = self.dirpath / "training.gif"
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(seconds_per_frame * 1000),
                       loop=0)
        return path

    def draw(self, trainer: L.Trainer, pl_module, iteration: int) -> Path | None:
        if not trainer.is_global_zero:
            return None
        check_weights(trainer, pl_module, before="sample grid")
        images = pl_module.sample(pl_module.sample_z)
        nrow = self.nrow or math.isqrt(len(images))  # square by default: 4x4 for the book's GAN, 10x10 for cGAN
        grid = make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)
        for logger in trainer.loggers:
            send_grid(logger, grid, iteration)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        path = self.dirpath / f"iter_{iteration:06d}.png"
        save_image(grid, path)
        return path
