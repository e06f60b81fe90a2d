"""Binh and Korn's two objectives, for the official plugin's multi-objective tests."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="two_objectives_conf", config_name="config")
def binh_and_korn(cfg: DictConfig):
    if cfg.get("returns") is not None:
        return cfg.returns
    return 4 * cfg.x**2 + 4 * cfg.y**2, (cfg.x - 5) ** 2 + (cfg.y - 5) ** 2


if __name__ == "__main__":
    binh_and_korn()
