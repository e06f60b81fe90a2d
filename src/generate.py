"""Draw new digits from a trained GAN.

    python src/generate.py ckpt_path=<run>/checkpoints/last.ckpt n=64 out=grid.png
    python src/generate.py ckpt_path=<run>/checkpoints/last.ckpt n=50000 out=samples.npy
    python src/generate.py ckpt_path=<cgan run>/checkpoints/last.ckpt digit=7 n=64 out=sevens.png
"""

import logging

import hydra
from omegaconf import DictConfig

from ganlab.command_line import refuse_misspelled_keys
from ganlab.errors import one_line_errors

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../conf", config_name="generate")
@one_line_errors
def main(cfg: DictConfig) -> None:
    # here, so that --help answers without loading torch
    from ganlab.generation import check_request, grid_of, interpolation, stream_npy, write_images
    from ganlab.trained_gan import load_gan, pick_device

    check_request(cfg.n, cfg.digit, cfg.out, cfg.batch_size)  # before the checkpoint is loaded
    model = load_gan(cfg.ckpt_path, pick_device(cfg.device), cfg.allow_targets)
    if cfg.get("interpolate"):  # n rows, each a walk of `interpolate` steps between two noise vectors
        images = interpolation(model, cfg.n, cfg.interpolate, seed=cfg.seed, digit=cfg.digit)
        path = write_images(images, cfg.out, nrow=cfg.interpolate)
    elif str(cfg.out).lower().endswith(".npy"):  # any n: written to disk batch by batch
        path = stream_npy(model, cfg.n, cfg.out, seed=cfg.seed, batch_size=cfg.batch_size, digit=cfg.digit)
    else:  # a grid: a conditional GAN's with one row per digit
        images, nrow, row_labels = grid_of(model, cfg.n, seed=cfg.seed, batch_size=cfg.batch_size, digit=cfg.digit,
                                           nrow=cfg.nrow)
        path = write_images(images, cfg.out, nrow=nrow, row_labels=row_labels)
        if row_labels:
            log.info("wrote %d images to %s: one row of %d for each digit", len(images), path, nrow)
            return
    log.info("wrote %d images to %s", cfg.n * (cfg.get("interpolate") or 1), path)


if __name__ == "__main__":
    refuse_misspelled_keys("generate")
    main()
