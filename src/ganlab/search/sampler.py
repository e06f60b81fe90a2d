"""The search's sampler, built from ``hydra.sweeper.sampler`` (a config group as in the official
plugin, ``hydra/sweeper/sampler=tpe|random|cmaes|nsgaii|qmc|gp|grid``, or a ``_target_`` of one's own).

Built here, not by Hydra with the sweeper (``_recursive_: false``), for two reasons: a user who sets
only ``sampler._target_`` keeps the default group's other keys (TPE's ``n_startup_trials``), which
another sampler does not take, so a key the target does not take is dropped while it holds a
sampler group's default, and passed (Optuna's own error) once the user set it; and the grid
sampler's grid comes from the search space (space.grid)."""

from __future__ import annotations

import inspect
import logging
import math
from typing import Any

from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from ganlab.errors import UserError

log = logging.getLogger(__name__)


def motpe_removed(*args: Any, **kwargs: Any):
    raise UserError("the 'motpe' sampler was removed in Optuna 4.0: use hydra/sweeper/sampler=tpe "
                    "(TPESampler handles several objectives)")


def build(config: Any, distributions: dict) -> tuple[Any, int | None]:
    """(the sampler, the number of grid points for the grid sampler, else None)."""
    import optuna
    from hydra.utils import get_method, instantiate

    from ganlab.search import space
    from hydra_plugins.ganlab_search.config import SAMPLERS

    if config is None:
        return optuna.samplers.TPESampler(), None
    if not isinstance(config, (dict, DictConfig)):
        return config, None  # a sampler built already (a test, Python code)
    settings = OmegaConf.to_container(OmegaConf.create(config), resolve=True)
    target = settings.get("_target_")
    if not target:
        raise UserError("hydra.sweeper.sampler has no _target_: choose hydra/sweeper/sampler=tpe (random, cmaes, "
                        "nsgaii, qmc, gp, grid) or give hydra.sweeper.sampler._target_=<class>")
    settings.pop("_partial_", None)
    try:
        accepts = inspect.signature(get_method(target)).parameters
    except Exception:  # not found: instantiate below says so in Hydra's own words
        accepts = None
    if accepts is not None and not any(p.kind == p.VAR_KEYWORD for p in accepts.values()):
        defaults = {}
        for group in SAMPLERS.values():
            for key, value in group.items():
                defaults.setdefault(key, []).append(value)
        for key in [k for k in settings if not k.startswith("_") and k not in accepts]:
            if settings[key] is None or settings[key] in defaults.get(key, []):
                del settings[key]  # another sampler's default, left by choosing only the _target_
    grid = None
    if accepts is not None and "search_space" in accepts and target.endswith("GridSampler") \
            and "search_space" not in settings:
        grid = space.grid(distributions)
        settings["search_space"] = grid
    try:
        sampler = instantiate(settings, _convert_="all")
    except InstantiationException as err:  # Hydra's own line: "Error locating target '...'", or the class's error
        if isinstance(err.__cause__, UserError):
            raise err.__cause__ from None
        raise UserError("hydra.sweeper.sampler: " + " ".join(str(err).strip().splitlines()[:2])) from None
    return sampler, (math.prod(len(v) for v in grid.values()) if grid is not None else None)
