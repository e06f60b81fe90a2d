"""A plain Hydra app for the official plugin's tests (tests/test_optuna_dropin.py): x² + y², or an
error when ``error=true``, or what ``returns`` says (to test what the sweeper makes of a bad return)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="config")
def sphere(cfg: DictConfig):
    if cfg.get("error", False):
        raise RuntimeError("cfg.error is True")
    if cfg.get("returns") is not None:
        return cfg.returns
    return cfg.x**2 + cfg.y**2


if __name__ == "__main__":
    sphere()
