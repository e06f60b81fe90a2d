"""Train a GAN on MNIST: ``python src/train.py [key=value ...]``; conf/train.yaml lists the keys.

Examples:
    python src/train.py trainer.max_steps=20000
    python src/train.py -m data.batch_size=32,64,128,256
    python src/train.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt   # resume
"""

import hydra
from omegaconf import DictConfig

from ganlab.training import train


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    # A Hydra sweeper optimises what the task function returns.
    return metrics.get(cfg.get("optimized_metric")) if cfg.get("optimized_metric") else None


if __name__ == "__main__":
    main()
