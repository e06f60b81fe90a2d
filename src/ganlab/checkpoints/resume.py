"""What a resume may change: it continues the same experiment, unless the user says otherwise.

A checkpoint holds the model's settings (``hyper_parameters``) and the data's
(``datamodule_hyper_parameters``). A resume whose config trains something else would otherwise
be half applied: Lightning restores the optimizer's old learning rate over the new one, while the
run's records show the new one. So changed settings are refused, listed with both values, unless
``resume.allow_changes=true``; then they are applied (``Engine`` sets changed optimizer settings
after Lightning restores the optimizer) and recorded in the resumed run's config.

``ckpt_path=auto`` (``resolve_ckpt_path``) makes a job started again into its own folder resume.

A setting added to the project after a checkpoint was written is not in it; that run trained with
the setting's default (its constructor's), so that default is what a resume is compared against.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf, open_dict

from ganlab.checkpoints.reading import checkpoint_files, intact_beside, newest_checkpoint, read_checkpoint
from ganlab.checkpoints.trust import check_targets, targets_in
from ganlab.errors import UserError
from ganlab.run_folders.resolvers import AUTO, run_dir_of
from ganlab.divergence import non_finite

log = logging.getLogger(__name__)

# Settings no resume can change: the weights, buffers and random streams in the checkpoint are theirs.
FIXED = {
    "model.generator": "the checkpoint's weights are of its generator",
    "model.discriminator": "the checkpoint's weights are of its discriminator",
    "model.num_sample_images": "the sample grid's noise is saved in the checkpoint",
    "seed": "a resume continues the checkpoint's random streams",
}
# The data module's settings that the run derives from others, listed by the key a user sets
DERIVED = {"data.seed": "seed", "data.batches_per_iteration": None}  # None: model.d_steps_per_iteration says it
# How the run executes, not what it trains
IGNORED = ("model.acceleration", "data.data_dir")


def resolve_ckpt_path(cfg: DictConfig) -> None:
    """``ckpt_path=auto`` becomes the run folder's newest checkpoint, or None for a fresh start: a
    job started again into its folder (a cluster's requeue, a rerun with the same hydra.run.dir)
    goes on from where it stopped instead of training from iteration 0 over its checkpoints."""
    run_dir = Path(cfg.paths.output_dir)
    if cfg.get("ckpt_path") == AUTO:
        found = newest_checkpoint(run_dir)
        if found is not None:
            log.info("Found %s, the newest checkpoint in this run's folder (ckpt_path=auto)", found)
        with open_dict(cfg):
            cfg.ckpt_path = str(found) if found is not None else None
    elif not cfg.get("ckpt_path") and checkpoint_files(run_dir):
        raise UserError(
            f"{run_dir} already holds checkpoints of a run, which a fresh start would overwrite: resume it with "
            "ckpt_path=auto, or give this run another folder (hydra.run.dir=...)"
        )


def purge_step(cfg: DictConfig) -> int | None:
    """Where TensorBoard hides what the cut-short run logged after the checkpoint, so that a resume
    in its own folder shows one continuous curve; None for a fresh run."""
    if run_dir_of(cfg.get("ckpt_path")) is None:
        return None
    return int(read_checkpoint(cfg.ckpt_path)["global_step"]) + 1


def check_resume(cfg: DictConfig, derived_data: dict | None = None) -> None:
    """Raises ``ValueError`` if ``cfg`` resumes ``cfg.ckpt_path`` with other settings than it was
    trained with (and ``resume.allow_changes`` is not set), or with fewer iterations than done.
    ``derived_data``: the data module's settings that the run derives from others (its seed)."""
    try:
        ckpt = read_checkpoint(cfg.ckpt_path)
    except UserError as err:
        intact = intact_beside(cfg.ckpt_path)
        raise UserError(f"{err}. " + (f"Intact checkpoints beside it: {', '.join(intact)}" if intact else
                                      "No intact checkpoint is beside it")) from None
    if broken := non_finite(ckpt["state_dict"]):
        intact = intact_beside(cfg.ckpt_path)
        raise UserError(
            f"ckpt_path={cfg.ckpt_path} holds non-finite weights ({broken}): its training diverged, and a resume "
            "would train NaN. Resume "
            + (f"from an earlier checkpoint: {', '.join(intact)}" if intact else "from an earlier checkpoint")
        )
    # What the checkpoint names must be what this run's own config names (or a shipped class), so
    # that the same refusal meets a hostile checkpoint here as in generate.py, before any comparison
    check_targets(ckpt.get("hyper_parameters") or {}, f"ckpt_path={cfg.ckpt_path}",
                  [t for _, t in targets_in(_plain(cfg.model))])
    done = int(ckpt.get("global_step", 0))
    if cfg.trainer.max_steps < done:
        raise UserError(
            f"trainer.max_steps={cfg.trainer.max_steps} is below the {done} iterations ckpt_path={cfg.ckpt_path} "
            f"has already trained: to train on, give a larger trainer.max_steps"
        )
    new = {"model": _plain(cfg.model), "data": {**_plain(cfg.data), **(derived_data or {})}}
    old = {
        "model": _with_defaults(ckpt.get("hyper_parameters", {}), new["model"], _class_or_none(cfg.model["_target_"])),
        "data": _with_defaults(ckpt.get("datamodule_hyper_parameters", {}), new["data"], _class_or_none(cfg.data["_target_"])),
    }
    changes = [(DERIVED.get(key, key), a, b) for key, a, b in _differences(old, new) if not key.startswith(IGNORED)]
    changes = [(key, a, b) for key, a, b in changes if key is not None]
    if not changes:
        return
    fixed = [(key, a, b) for key, a, b in changes if _is_fixed(key, a, b)]
    if fixed:
        why = "; ".join(sorted({_why_fixed(key) for key, _, _ in fixed}))
        raise UserError(
            f"ckpt_path={cfg.ckpt_path} cannot be resumed with these settings ({why}):\n{_listing(fixed)}\n"
            "Start a new run without ckpt_path to train them."
        )
    listing = _listing(changes)
    if not cfg.get("resume", {}).get("allow_changes", False):
        raise UserError(
            f"ckpt_path={cfg.ckpt_path} was trained with other settings; a resume continues the same experiment:\n"
            f"{listing}\nTo continue it with these changes, add resume.allow_changes=true (they are applied and "
            "recorded in the run's .hydra/resumed_* config); to train them from scratch, leave out ckpt_path."
        )


# What a resume with resume.allow_changes=true can change in an optimizer Lightning has restored
OPTIMIZER_SETTINGS = ("lr", "betas", "eps", "weight_decay")


def apply_changed_optimizer_settings(optimizers, saved: dict, current) -> None:
    """Lightning restores each optimizer's param groups, and with them the checkpoint's settings;
    the settings this run's config changed (``check_resume`` allowed them) are set again."""
    for optimizer, name in zip(optimizers, ("optimizer_g", "optimizer_d"), strict=True):
        old, new = saved.get(name, {}), current[name]
        for key in OPTIMIZER_SETTINGS:
            if key in new and old.get(key) != new[key]:
                for group in optimizer.param_groups:
                    group[key] = tuple(new[key]) if isinstance(new[key], (list, tuple)) else new[key]


# Optimizer options a resume can apply: the class is built from the config, and the settings are
# set again after Lightning restores the checkpoint's (apply_changed_optimizer_settings, called by the engine).
APPLICABLE_OPTIMIZER_KEYS = ("_target_", *OPTIMIZER_SETTINGS)


def _is_fixed(key: str, old: Any, new: Any) -> bool:
    if key.startswith(("model.optimizer_g.", "model.optimizer_d.")):
        return key.split(".")[2] not in APPLICABLE_OPTIMIZER_KEYS
    if key == "model.ema_decay":
        return (old is None) != (new is None)
    return key.startswith(tuple(FIXED))


def _why_fixed(key: str) -> str:
    if key == "model.ema_decay":
        return "the moving average of G is in the checkpoint or not, and cannot be added or dropped"
    if key.startswith(("model.optimizer_g.", "model.optimizer_d.")):
        return "the optimizer's restored state carries its other options"
    return FIXED[next(prefix for prefix in FIXED if key.startswith(prefix))]


def _listing(changes: list[tuple[str, Any, Any]]) -> str:
    return "\n".join(f"  {key}: {old!r} -> {new!r}" for key, old, new in changes)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


NOT_RECORDED = "<not in the checkpoint>"


def _with_defaults(old: dict, new: dict, cls: type | None) -> dict:
    """``old`` with each key of ``new`` it lacks set to ``cls``'s default for it: the value the
    checkpoint's run trained with before the setting existed (or NOT_RECORDED if there is none)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return old
    parameters = inspect.signature(cls.__init__).parameters if cls is not None else None
    filled = {}
    for key, value in new.items():
        if key not in old:
            if parameters is None:
                filled[key] = NOT_RECORDED
            elif key in parameters:  # not a parameter (``_target_``): not a setting the class records
                default = parameters[key].default
                filled[key] = NOT_RECORDED if default is inspect.Parameter.empty else default
        elif isinstance(old[key], dict) and isinstance(value, dict) and old[key].get("_target_") == value.get("_target_"):
            # the same class (a net, a loss): its keys added since have its defaults
            target = value.get("_target_")
            filled[key] = _with_defaults(old[key], value, _class_or_none(target) if target else None)
        else:
            filled[key] = old[key]
    return {**old, **filled}


def _class_or_none(target: str) -> type | None:
    try:
        return get_class(target)
    except (ImportError, ValueError):  # renamed or removed since: its added keys count as changes
        return None


def _differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every key of ``old`` whose value ``new`` changes."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in old if key in new for d in _differences(old[key], new[key], f"{prefix}{key}.")]
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        old, new = list(old), list(new)
    return [] if old == new else [(prefix.rstrip("."), old, new)]

