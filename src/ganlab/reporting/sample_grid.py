from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger
from torchvision.transforms.functional import to_tensor

from ganlab.errors import UserError
from ganlab.reporting.pictures import animate, grid_image
from ganlab.divergence import check_weights
from ganlab.whole_files import write_whole
from ganlab.schedule import ends_interval


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
    noise as a grid, scaled up to be judged by eye: to TensorBoard's IMAGES tab and as
    ``<dirpath>/iter_NNNNNN.png``. A conditional G draws one labelled row per digit. When training
    ends, the grids so far (a resumed run's earlier ones too) become ``<dirpath>/training.gif``, each
    frame captioned with its iteration: the same digits taking shape.

    Runs on rank 0 only: sampling needs no other rank, and one process writes the files.
    """

    def __init__(self, dirpath: str, every_n_iterations: int = 1000, nrow: int | None = None):
        if every_n_iterations < 1:
            raise UserError(f"sample_interval={every_n_iterations}: give 1 or more iterations; to switch it off, "
                            "callbacks.sample_grid=null")
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
        return animate(sorted(self.dirpath.glob("iter_*.png")), self.dirpath / "training.gif", seconds_per_frame)

    def draw(self, trainer: L.Trainer, pl_module, iteration: int) -> Path | None:
        if not trainer.is_global_zero:
            return None
        check_weights(trainer, pl_module, before="sample grid")
        images = pl_module.sample(pl_module.sample_z)
        nrow = self.nrow or math.isqrt(len(images))  # square by default: 4x4 for the book's GAN, 10x10 for cGAN
        # a conditional G's grid has a row per digit (GAN.balanced_labels): say which
        rows = [str(d) for d in range(pl_module.num_classes)] if pl_module.num_classes and nrow * 10 == len(images) \
            else None
        picture = grid_image(images, nrow, row_labels=rows)
        for logger in trainer.loggers:
            send_grid(logger, to_tensor(picture), iteration)
        return write_whole(self.dirpath / f"iter_{iteration:06d}.png", lambda file: picture.save(file, format="PNG"))
