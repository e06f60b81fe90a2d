"""The commands: ``python src/train.py`` (``evaluate.py``, ``generate.py``) from a checkout, and
``python -m ganlab`` (training) from an installed package, call ``train``, ``evaluate`` and
``generate`` here, with the configs of ``run_folders.CONF`` (conf/, shipped inside the package
by ``pip install .``).

Before anything heavy loads, the command line is checked: a key that the config does not have gets
the key it most likely meant. Hydra's own message for it suggests ``+key=...``, which would add the
typo as a new setting and train as if it had never been typed."""

from __future__ import annotations

import difflib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from omegaconf import DictConfig, OmegaConf

from ganlab.errors import one_line_errors
from ganlab.run_folders.resolvers import CONF  # importing it registers the resolvers conf/ uses

log = logging.getLogger(__name__)


def train() -> None:
    """Trains a GAN on MNIST: ``python src/train.py [key=value ...]``; conf/train.yaml lists the keys."""
    _command("train", _train)


def evaluate() -> None:
    """Scores a GAN's samples: ``python src/evaluate.py ckpt_path=... | samples=...``."""
    _command("evaluate", _evaluate)


def generate() -> None:
    """Draws new digits from a trained GAN: ``python src/generate.py ckpt_path=... n=64 out=grid.png``."""
    _command("generate", _generate)


def _command(name: str, task) -> None:
    # Hydra names the job (train.log) after the task's module unless the config names it: each
    # command's config does (hydra.job.name), so that it is the same however the command started
    refuse_misspelled_keys(name)
    hydra.main(version_base="1.3", config_path=str(CONF), config_name=name)(one_line_errors(task))()


# The commands' bodies import what they need when they run, so that --help and a misspelled key
# answer without loading torch
def _train(cfg: DictConfig) -> float | None:
    from ganlab.training import run

    return run(cfg)


def _evaluate(cfg: DictConfig) -> None:
    from ganlab.evaluation import default_scores_path, evaluate, format_table, write_scores
    from ganlab.trained_gan import pick_device

    report = evaluate(
        cfg.paths.data_dir, cfg.ckpt_path, cfg.samples, cfg.num_samples, cfg.seed, pick_device(cfg.device), cfg.floor,
        cfg.min_evaluator_accuracy, cfg.allow_targets,
    )
    path = write_scores(report, cfg.out or default_scores_path(cfg.ckpt_path, cfg.samples))
    print(format_table(report))
    log.info("wrote %s", path)


def _generate(cfg: DictConfig) -> None:
    from ganlab.generation import check_request, grid_of, interpolation, stream_npy, write_images
    from ganlab.trained_gan import load_gan, pick_device

    check_request(cfg.n, cfg.digit, cfg.out, cfg.batch_size)  # before the checkpoint is loaded
    model = load_gan(cfg.ckpt_path, pick_device(cfg.device), cfg.allow_targets)
    if cfg.get("interpolate"):  # n rows, each a walk of `interpolate` steps between two noise vectors
        images = interpolation(model, cfg.n, cfg.interpolate, seed=cfg.seed, digit=cfg.digit)
        path = write_images(images, cfg.out, nrow=cfg.interpolate)
    elif str(cfg.out).lower().endswith(".npy"):  # any n: written to disk batch by batch
        path = stream_npy(model, cfg.n, cfg.out, seed=cfg.seed, batch_size=cfg.batch_size, digit=cfg.digit)
    else:  # a grid: a conditional GAN's with one row per digit
        images, nrow, row_labels = grid_of(model, cfg.n, seed=cfg.seed, batch_size=cfg.batch_size, digit=cfg.digit,
                                           nrow=cfg.nrow)
        path = write_images(images, cfg.out, nrow=nrow, row_labels=row_labels)
        if row_labels:
            log.info("wrote %d images to %s: one row of %d for each digit", len(images), path, nrow)
            return
    log.info("wrote %d images to %s", cfg.n * (cfg.get("interpolate") or 1), path)


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
            lines.append(f"{key} is not a setting: {guess}({started_as(config_name)} --cfg job lists them all; "
                         f"+{key}=... adds a new one)")
    return lines


def started_as(config_name: str) -> str:
    """The command as the user typed it: ``python -m ganlab`` (an installed package's train) or
    ``python src/<config_name>.py``."""
    return "python -m ganlab" if Path(sys.argv[0]).name == "__main__.py" else f"python src/{config_name}.py"


def _dotted_keys(node: Any, prefix: str = "") -> list[str]:
    """Every key of a plain config tree, dotted (lists' items by index)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    keys = []
    for key, value in items:
        keys += [f"{prefix}{key}", *_dotted_keys(value, f"{prefix}{key}.")]
    return keys
