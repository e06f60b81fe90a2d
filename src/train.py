"""Train a GAN on MNIST: ``python src/train.py [key=value ...]``; conf/train.yaml lists the keys.

Examples:
    python src/train.py trainer.max_steps=20000
    python src/train.py -m data.batch_size=32,64,128,256
    python src/train.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt   # resume
"""

import hydra
from omegaconf import DictConfig

import ganlab.run_folders.resolvers  # noqa: F401  (registers the resolvers conf/ uses)
from ganlab.command_line import refuse_misspelled_keys
from ganlab.errors import one_line_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@one_line_errors
def main(cfg: DictConfig) -> float | None:
    from ganlab.training import run  # here, so that --help and a misspelled key answer without loading torch

    return run(cfg)


if __name__ == "__main__":
    refuse_misspelled_keys("train")
    main()
