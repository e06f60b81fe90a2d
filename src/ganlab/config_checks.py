"""The run's settings checked before anything is built, each mistake named by the key the user typed.

Types are checked against the annotations of the classes the config builds (``_target_``: the
data module, the nets, the optimizers, the loss, the callbacks, Lightning's Trainer), so a net or
optimizer added later is checked by its own signature. Hydra's structured configs would do the
same but need a schema beside every class; the signatures already are one. Ranges and choices
that no annotation can say are checked by the classes themselves or below.
"""

from __future__ import annotations

import inspect
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class
from omegaconf import DictConfig, ListConfig, OmegaConf

from ganlab.checkpoints.resume import check_resume
from ganlab.checkpoints.trust import targets_in
from ganlab.errors import UserError
from ganlab.run_folders.resolvers import AUTO

# The top-level keys of conf/train.yaml that no class's signature covers
TOP_LEVEL: dict[str, tuple[type, ...]] = {
    "seed": (int, type(None)),
    "sample_interval": (int,),
    "checkpoint_interval": (int,),
    "eval_interval": (int,),
    "num_threads": (int, str),
    "float32_matmul_precision": (str,),
    "optimized_metric": (str, ListConfig, type(None)),  # a list: a search for several objectives
}
_SIMPLE = (int, float, bool, str, type(None))
# Classes that configs name and that have moved: a config written for an older version (a callbacks
# file of one's own) gets the new name in one line instead of Hydra's traceback
MOVED = {
    "ganlab.safety.checkpoints.IterationCheckpoint": "ganlab.checkpoints.saving.IterationCheckpoint",
    "ganlab.safety.checkpoints.AtomicCheckpointIO": "ganlab.checkpoints.saving.AtomicCheckpointIO",
}


def check_moved(cfg: DictConfig) -> None:
    """Raises ``UserError`` for a ``_target_`` that names a class by its old place (``MOVED``)."""
    plain = OmegaConf.to_container(cfg, resolve=False)
    for place, target in targets_in({key: value for key, value in plain.items() if key != "hydra"}):
        if isinstance(target, str) and target in MOVED:
            raise UserError(f"{place}={target}: that class has moved; write {place}={MOVED[target]}")


def check_types(cfg: DictConfig) -> None:
    """Raises ``UserError`` for the first setting whose value is not of the type its class takes."""
    for key, allowed in TOP_LEVEL.items():
        if key in cfg:
            _check(key, OmegaConf.select(cfg, key), allowed)
    for path, node in _targets(cfg):
        annotations = _annotations(node["_target_"])
        for key, value in node.items():
            if not str(key).startswith("_") and key in annotations and not OmegaConf.is_config(value):
                _check(f"{path}.{key}", value, annotations[key])


def _check(key: str, value: Any, allowed: tuple) -> None:
    literals = [a for a in allowed if not isinstance(a, type)]
    kinds = tuple(a for a in allowed if isinstance(a, type))
    if float in kinds:
        kinds += (int,)  # a whole number is a fine float
    if isinstance(value, bool) and bool not in kinds:
        ok = False  # True is an int to Python, not a number to a user
    else:
        ok = isinstance(value, kinds) or any(value == v for v in literals)
    if not ok:
        wanted = [_NAMES.get(k, k.__name__) for k in kinds if k is not int or float not in kinds]
        wanted += [repr(v) for v in literals]
        raise UserError(f"{key}={value!r}: give {' or '.join(dict.fromkeys(wanted))}")


_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a word", type(None): "null"}


def _targets(cfg: DictConfig, path: str = ""):
    """(dotted path, node) of every node that builds a class, the nodes inside it too."""
    for key, node in cfg.items_ex(resolve=False) if isinstance(cfg, DictConfig) else ():
        full = f"{path}.{key}" if path else str(key)
        if key == "hydra" or not isinstance(node, DictConfig):
            continue
        if "_target_" in node:
            yield full, node
        yield from _targets(node, full)


def _annotations(target: str) -> dict[str, tuple]:
    """For each parameter of ``target``'s constructor whose annotation is made only of simple types
    (numbers, words, true/false, null, fixed choices): the types and choices it allows."""
    try:
        cls = get_class(target)
    except Exception:  # Hydra says which class it cannot find when it builds it
        return {}
    hints: dict[str, Any] = {}
    for klass in cls.__mro__ if inspect.isclass(cls) else ():  # a subclass may pass its options on
        try:
            hints = {**typing.get_type_hints(klass.__init__), **hints}
        except Exception:  # annotations that cannot be read: that class checks its own values when built
            continue
    simple = {}
    for name, hint in hints.items():
        allowed = _flatten(hint)
        if allowed and all(a in _SIMPLE or not isinstance(a, type) for a in allowed):
            simple[name] = allowed
    return simple


def _flatten(hint: Any) -> tuple:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return tuple(a for arg in typing.get_args(hint) for a in _flatten(arg))
    if origin is Literal:
        return typing.get_args(hint)
    if hint is torch.Tensor:
        return (float,)  # e.g. a learning rate given as a number or a tensor
    if hint is Any or origin is not None or isinstance(hint, str):
        return (object,)  # containers, anything, a name left unresolved: not checked here
    return (hint,)


def check_ranges(cfg: DictConfig) -> None:
    """Values of the right type that no run can use, for the classes that are not the project's
    (torch's optimizers, Lightning's Trainer and seed), which would refuse them mid-way or in their
    own words. The project's classes check their own (``data.batch_size``, the intervals)."""
    seed = cfg.get("seed")
    if isinstance(seed, int) and not 0 <= seed < 2**32:  # what numpy and Lightning's seed_everything take
        raise UserError(f"seed={seed}: give a whole number from 0 to {2**32 - 1}, or seed=null for a fresh one")
    for name in ("optimizer_g", "optimizer_d"):
        options = cfg.model.get(name) or {}
        for key, least in (("lr", 0.0), ("eps", 0.0)):
            value = options.get(key)
            if isinstance(value, (int, float)) and not value > least:
                raise UserError(f"model.{name}.{key}={value}: give a value above {least:g}, e.g. "
                                f"{'0.0002' if key == 'lr' else '1e-07'}")
        betas = options.get("betas")
        if betas is not None and (len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise UserError(f"model.{name}.betas={list(betas)}: give two values in [0, 1), e.g. [0.5, 0.999]")
    devices = cfg.trainer.get("devices")
    if isinstance(devices, int) and not isinstance(devices, bool) and devices < 1 and devices != -1:
        raise UserError(f"trainer.devices={devices}: give 1 or more devices (or auto, or -1 for all)")


def check_output_dir(cfg: DictConfig, run_folder: str | None) -> None:
    """``paths.output_dir`` follows the run's folder (``run_folder``: Hydra's, where the command made
    one): set alone, it would split a run in two, its log and config in one folder, the rest in another."""
    given = (cfg.get("paths") or {}).get("output_dir")
    if run_folder is not None and given is not None and Path(given).resolve() != Path(run_folder).resolve():
        raise UserError(f"paths.output_dir={given}: a run's folder is chosen with hydra.run.dir={given} "
                        "(a sweep's with hydra.sweep.dir=...), and paths.output_dir follows it; leave it out")


def check_config(cfg: DictConfig, derived_data: dict) -> None:
    """Catches the mistakes that would otherwise surface deep inside Lightning or halfway through a
    run. ``derived_data``: the data module's settings derived from others (training.py)."""
    check_moved(cfg)
    check_output_dir(cfg, HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None)
    check_types(cfg)
    check_ranges(cfg)
    max_steps = cfg.trainer.get("max_steps", -1)
    if not isinstance(max_steps, int) or max_steps < 1:
        raise UserError(f"trainer.max_steps={max_steps}: give the number of training iterations, e.g. 20000")
    every = cfg.trainer.get("log_every_n_steps", 50)
    if not isinstance(every, int) or every < 1:
        raise UserError(f"trainer.log_every_n_steps={every}: log every 1 or more iterations, e.g. 50")
    if cfg.trainer.get("overfit_batches"):
        raise UserError(
            f"trainer.overfit_batches={cfg.trainer.overfit_batches} does not apply here: every iteration draws "
            "fresh random batches (data.sampling), which Lightning's batch limits cannot pin. Leave it out"
        )
    strategy = cfg.trainer.get("strategy")
    if strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        raise UserError(
            f"trainer.strategy={strategy} stops at the first update: D's leaves G's weights without gradients, "
            f"which plain DDP refuses. Use trainer.strategy={strategy}_find_unused_parameters_true, or simply "
            "trainer.devices=N"
        )
    ckpt = cfg.get("ckpt_path")
    if ckpt == AUTO:
        return  # train() resolves it first (resolve_ckpt_path); there is nothing to check yet
    if ckpt and not os.path.isfile(ckpt):
        raise UserError(
            f"ckpt_path={ckpt} is not a file. To resume, pass a checkpoint of an earlier run, "
            "e.g. ckpt_path=logs/runs/<run>/checkpoints/last.ckpt"
        )
    if ckpt:
        check_resume(cfg, derived_data)
