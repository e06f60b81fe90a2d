"""The official plugin's custom-search-space example: z is suggested near the trial's x, and a
new key +w, by a function the config names (hydra.sweeper.custom_search_space)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="custom_space_conf", config_name="config")
def sphere4(cfg: DictConfig) -> float:
    return cfg.w**2 + cfg.x**2 + cfg.y**2 + cfg.z**2


def configure(cfg: DictConfig, trial) -> None:
    x = trial.params["x"]
    trial.suggest_float("z", x - cfg.max_z_difference_from_x, x + cfg.max_z_difference_from_x)
    trial.suggest_float("+w", 0.0, 1.0)  # "+w": w is not in the config, so its override adds it


if __name__ == "__main__":
    sphere4()
