"""The search space, in Hydra's sweep syntax (conf/hparams_search/*.yaml, or the command line):
``choice(32, 64)``, ``interval(0.0001, 0.003)``, ``tag(log, interval(...))``, ``range(1, 5)``; any
other value is held fixed in every trial. Parsed with Hydra's own override parser into Optuna's
distributions, as hydra-optuna-sweeper does."""

from __future__ import annotations

from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer

from ganlab.errors import UserError


def parse(arguments: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``key=sweep`` strings -> (Optuna distributions by key, fixed values by key as typed)."""
    space, fixed = {}, {}
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.get_key_element()
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    for key in fixed.keys() & space.keys():
        del space[key]  # a value given on the command line holds the key fixed
    return space, fixed


def distribution(override: Override):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    if override.is_range_sweep():
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return FloatDistribution(value.start, value.stop - value.step, step=value.step)
        return IntDistribution(int(value.start), int(value.stop) - int(value.step), step=int(value.step))
    if override.is_interval_sweep():
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise UserError(f"{override.input_line}: a search takes choice(...), range(...) or interval(...)")


def as_overrides(params: dict[str, Any]) -> list[str]:
    """A trial's values as Hydra overrides."""
    return [f"{key}={value}" for key, value in params.items()]
