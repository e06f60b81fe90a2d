"""What a Hydra sweeper that optimises (``hparams_search=optuna``) gets from a run: ``optimized_metric``."""

from __future__ import annotations

import difflib

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig

from ganlab import tags
from ganlab.errors import UserError


def searching() -> bool:
    """Whether a sweeper that optimises the task's return value runs this job (not Hydra's basic one)."""
    return HydraConfig.initialized() and not str(HydraConfig.get().sweeper.get("_target_", "")).endswith(
        "BasicSweeper")


def metric_names(cfg: DictConfig) -> list[str]:
    """``optimized_metric``: one name, or a list of them for a search with several objectives."""
    name = cfg.get("optimized_metric")
    return [str(n) for n in name] if isinstance(name, ListConfig) else [str(name)] if name else []


def check_metric_names(cfg: DictConfig, names: list[str] | None = None) -> list[str]:
    """``optimized_metric``'s names (or ``names``), each one a value a run returns (tags.py, the
    measures of the callbacks ``cfg`` names included); the sweeper checks them in its process
    before any trial, training before it trains."""
    tags.import_measures_of(cfg)
    names = metric_names(cfg) if names is None else names
    for name in names:
        if name in tags.FORMER:
            raise UserError(f"optimized_metric={name} is a metric's former name: it is logged as "
                            f"{tags.FORMER[name]} (optimized_metric={tags.FORMER[name]})")
        if tags.measure(name) is None or name.startswith(f"{tags.FINAL}/"):
            known = tags.optimisable()
            close = difflib.get_close_matches(name, known, n=1)
            raise UserError(f"optimized_metric={name} is not a metric a run returns: " + (
                f"did you mean {close[0]}?" if close else f"choose one of {', '.join(known)}"))
    return names


def check_objective(cfg: DictConfig) -> None:
    """Before training: ``optimized_metric`` names values a run returns, and a search for a
    sample-quality metric (4_quality/*, 5_digits/*) needs the evaluation that measures it."""
    for name in check_metric_names(cfg):
        if searching() and tags.is_score(name) and not (cfg.get("callbacks") or {}).get("sample_quality"):
            raise UserError(f"optimized_metric={name} comes from the sample-quality evaluation, which "
                            "callbacks.sample_quality=null switches off: the search would have nothing to optimise")


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | list[float] | None:
    """What a Hydra sweeper (e.g. hparams_search=optuna) optimises: ``optimized_metric`` (a list of
    values for several). A sweeper that is given None records a failed trial and goes on, so a
    missing metric is an error here."""
    names = metric_names(cfg)
    values = [metrics.get(name) for name in names]
    missing = [name for name, value in zip(names, values) if value is None]
    if missing and searching():
        raise UserError(
            f"optimized_metric={missing[0]} was not measured in this run, so the sweeper has nothing to optimise "
            f"(it measured: {', '.join(sorted(metrics))}): choose one of those"
        )
    if not names or missing:
        return None
    return values[0] if len(values) == 1 else values
