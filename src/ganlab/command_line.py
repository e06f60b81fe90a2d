"""The command line checked before anything heavy loads: a key that the config does not have gets
the key it most likely meant. Hydra's own message for it suggests ``+key=...``, which would add the
typo as a new setting and train as if it had never been typed."""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from omegaconf import OmegaConf


CONF = Path(__file__).resolve().parents[2] / "conf"


def refuse_misspelled_keys(config_name: str, args: list[str] | None = None) -> None:
    """Exits with one line for each misspelled key on the command line of ``src/<config_name>.py``."""
    if mistakes := misspelled_keys(CONF, config_name, sys.argv[1:] if args is None else args):
        print("\n".join(f"Error: {line}" for line in mistakes), file=sys.stderr)
        if config_name == "train":
            from ganlab import run_record

            run_record.write("refused", None, exit_code=1, error="; ".join(mistakes))
        raise SystemExit(1)


def misspelled_keys(conf_dir: str | os.PathLike, config_name: str, args: list[str]) -> list[str]:
    """One line for each ``key=value`` on the command line whose key the config does not have, with
    the closest key it does have: Hydra's own message suggests ``+key``, which adds the typo. Only
    advice: whatever this cannot work out is left to Hydra, which reports it its own way."""
    try:
        return _misspelled(conf_dir, config_name, args)
    except Exception:
        return []


def _misspelled(conf_dir: str | os.PathLike, config_name: str, args: list[str]) -> list[str]:
    overrides = OverridesParser.create().parse_overrides([a for a in args if "=" in a and not a.startswith("-")])
    changes = [o for o in overrides if o.type == OverrideType.CHANGE]
    groups = [o for o in changes if (Path(conf_dir) / o.key_or_group).is_dir() or o.key_or_group.startswith("hydra/")]
    keys = [o.key_or_group for o in changes if o not in groups and not o.key_or_group.startswith("hydra")]
    if not keys:
        return []
    choices = [f"{o.key_or_group}={next(iter(o.sweep_string_iterator())) if o.is_sweep_override() else o.value()}"
               for o in groups]
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        tree = OmegaConf.to_container(compose(config_name=config_name, overrides=choices), resolve=False)
    known = _dotted_keys(tree)
    lines = []
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            guess = f"did you mean {close[0]}? " if close else ""
            lines.append(f"{key} is not a setting: {guess}(python src/{config_name}.py --cfg job lists them all; "
                         f"+{key}=... adds a new one)")
    return lines


def _dotted_keys(node: Any, prefix: str = "") -> list[str]:
    """Every key of a plain config tree, dotted (lists' items by index)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    keys = []
    for key, value in items:
        keys += [f"{prefix}{key}", *_dotted_keys(value, f"{prefix}{key}.")]
    return keys
