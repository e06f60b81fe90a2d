"""Score a GAN's samples with the MNIST sample-quality metrics (FID, classifier score, ...).

    python src/evaluate.py ckpt_path=<run>/checkpoints/last.ckpt
    python src/evaluate.py samples=<file.npy>      # [N, 28, 28] floats in [-1, 1], from any GAN code

Prints a table next to the real-data floor and writes the JSON beside the checkpoint or samples.
"""

import logging

import hydra
from omegaconf import DictConfig

import ganlab.run_folders.resolvers  # noqa: F401  (registers the resolvers conf/ uses)
from ganlab.command_line import refuse_misspelled_keys
from ganlab.errors import one_line_errors

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
@one_line_errors
def main(cfg: DictConfig) -> None:
    # here, so that --help answers without loading torch
    from ganlab.evaluation import default_scores_path, evaluate, format_table, write_scores
    from ganlab.trained_gan import pick_device

    report = evaluate(
        cfg.paths.data_dir, cfg.ckpt_path, cfg.samples, cfg.num_samples, cfg.seed, pick_device(cfg.device), cfg.floor,
        cfg.min_evaluator_accuracy, cfg.allow_targets,
    )
    path = write_scores(report, cfg.out or default_scores_path(cfg.ckpt_path, cfg.samples))
    print(format_table(report))
    log.info("wrote %s", path)


if __name__ == "__main__":
    refuse_misspelled_keys("evaluate")
    main()
