"""What a Hydra sweeper that optimises (``hparams_search=optuna``) gets from a run: ``optimized_metric``."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ganlab.errors import UserError


def searching() -> bool:
    """Whether a sweeper that optimises the task's return value runs this job (not Hydra's basic one)."""
    return HydraConfig.initialized() and not str(HydraConfig.get().sweeper.get("_target_", "")).endswith(
        "BasicSweeper")


def check_objective(cfg: DictConfig) -> None:
    """Before training: a search for an eval/* metric needs the evaluation that measures it."""
    name = cfg.get("optimized_metric")
    if searching() and name and name.startswith("eval/") and not (cfg.get("callbacks") or {}).get("sample_quality"):
        raise UserError(f"optimized_metric={name} comes from the sample-quality evaluation, which "
                         "callbacks.sample_quality=null switches off: the search would have nothing to optimise")


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """What a Hydra sweeper (e.g. hparams_search=optuna) optimises: ``optimized_metric``. A sweeper
    that is given None records a failed trial and goes on, so a missing metric is an error here."""
    name = cfg.get("optimized_metric")
    value = metrics.get(name) if name else None
    if value is None and name and searching():
        raise UserError(
            f"optimized_metric={name} was not measured in this run, so the sweeper has nothing to optimise "
            f"(it measured: {', '.join(sorted(metrics))}): choose one of those"
        )
    return value
