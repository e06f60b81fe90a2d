"""The search space, in Hydra's sweep syntax (``hydra.sweeper.params``, or the command line):
``choice(32, 64)``, ``interval(0.0001, 0.003)``, ``tag(log, interval(...))``, ``int(interval(1, 5))``,
``range(1, 5)``; any other value is held fixed in every trial, and ``~key`` deletes the key in each.
The official plugin's semantics (hydra-optuna-sweeper's ``_impl.py``): ``range(low, high, step)``
is Optuna's distribution from low to high *inclusive* (``range(1, 3)`` searches 1, 2 and 3),
except under the grid sampler, whose grid stops before high as Hydra's own range does."""

from __future__ import annotations

from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer

from ganlab.errors import UserError

CHOICE_TYPES = (str, int, float, bool, type(None))


def parse(arguments: list[str]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """``key=sweep`` strings -> (Optuna distributions by key, fixed values by key as typed, deletions)."""
    space, fixed, deletions = {}, {}, []
    try:
        overrides = OverridesParser.create().parse_overrides(arguments)
    except Exception as err:  # Hydra's OverrideParseException: its message names the bad override
        raise UserError(str(err).strip().splitlines()[0]) from None
    for override in overrides:
        if override.is_delete():
            deletions.append(override.input_line)
            continue
        key = override.get_key_element()
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    for key in fixed.keys() & space.keys():
        del space[key]  # a value given on the command line holds the key fixed
    return space, fixed, deletions


def distribution(override: Override):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        if not all(isinstance(c, CHOICE_TYPES) for c in choices):
            raise UserError(f"{override.input_line}: a choice takes strings, numbers, booleans or null")
        return CategoricalDistribution(choices)
    if override.is_range_sweep():
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return FloatDistribution(float(value.start), float(value.stop),
                                     step=float(value.step) if value.step else None)
        return IntDistribution(int(value.start), int(value.stop), step=int(value.step))
    if override.is_interval_sweep():
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise UserError(f"{override.input_line}: a search takes choice(...), range(...) or interval(...)")


def grid(distributions: dict[str, Any]) -> dict[str, list]:
    """The grid sampler's values for each key; a range's grid stops before its high (the official
    plugin's grid), an interval has no grid."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    values = {}
    for key, d in distributions.items():
        if isinstance(d, CategoricalDistribution):
            values[key] = list(d.choices)
        elif isinstance(d, (IntDistribution, FloatDistribution)) and d.step is not None and not d.log:
            values[key] = [d.low + i * d.step for i in range(int((d.high - d.low) // d.step))]
        else:
            raise UserError(f"{key}: the grid sampler takes choice(...) or range(...), not an interval")
    return values


def as_overrides(params: dict[str, Any]) -> list[str]:
    """A trial's values as Hydra overrides."""
    return [f"{key}={value}" for key, value in params.items()]
