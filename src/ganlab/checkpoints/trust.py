"""What a checkpoint may name: the classes that rebuilding a GAN from it calls.

``torch.load(weights_only=True)`` keeps pickles out, but a checkpoint's ``hyper_parameters`` are
configs that ``GAN.__init__`` hands to ``hydra.utils.instantiate``, which calls whatever
``_target_`` they hold (``torch.load`` on pickle bytes, ``builtins.open``, ...). So before anything
is built, every ``_target_`` in them, nested ones too, must be

- a class the project ships for its role: a net (an ``nn.Module`` defined under
  ``ganlab.models.nets``), a loss (a ``GANLoss`` under ``ganlab.models.losses``) or an optimizer
  (a ``torch.optim.Optimizer`` of torch's or the project's), or
- a name the user allowed (``allow_targets=[...]``, or the run's own config when it resumes).

The name is checked as text before it is imported, so a module that runs code on import is never
imported for a checkpoint. Interpolations (``${...}``) are refused too: a resolver is code.
This is the same idea as torch's ``add_safe_globals`` allow-list, for Hydra's ``_target_``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ganlab.errors import UserError

# role -> (the name's form, the package its class must be defined in, the base class's dotted name)
_NETS = (r"ganlab\.models\.nets\.\w+\.\w+", "ganlab.models.nets", "torch.nn.Module")
_OPTIMIZERS = (r"torch\.optim\.\w+", "torch.optim", "torch.optim.Optimizer")
SHIPPED = {
    "generator": _NETS,
    "discriminator": _NETS,
    "loss": (r"ganlab\.models\.losses\.\w+", "ganlab.models.losses", "ganlab.models.losses.GANLoss"),
    "optimizer_g": _OPTIMIZERS,
    "optimizer_d": _OPTIMIZERS,
}
# Classes that checkpoints of earlier versions name, and what builds the same thing now (read_checkpoint
# renames them before anything is checked or compared, so those checkpoints load and resume).
RENAMED = {
    # the configs' optimizer until 2026-12-02: torch's fused Adam step, bit-identical to torch.optim.Adam(fused=True)
    "ganlab.engine.lean_adam.LeanAdam": "torch.optim.Adam",
}

WHAT = {"generator": "a net", "discriminator": "a net", "loss": "a loss", "optimizer_g": "an optimizer",
        "optimizer_d": "an optimizer"}


def targets_in(node: Any, where: str = "") -> list[tuple[str, Any]]:
    """Every ``_target_`` in a config tree, as (its dotted place, its value)."""
    found = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            place = f"{where}.{key}" if where else str(key)
            if key == "_target_":
                found.append((place, value))
            else:
                found.extend(targets_in(value, place))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found.extend(targets_in(value, f"{where}[{i}]"))
    return found


def renamed(node: Any) -> Any:
    """A config tree with each ``_target_`` that ``RENAMED`` lists replaced by its new name."""
    if isinstance(node, Mapping):
        return {k: (RENAMED.get(v, v) if k == "_target_" and isinstance(v, str) else renamed(v)) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(renamed(v) for v in node)
    return node


def check_targets(hyper_parameters: Mapping, source: str, allowed: Iterable[str] = ()) -> None:
    """Raises ``UserError`` unless every ``_target_`` in a checkpoint's ``hyper_parameters`` is a
    class the project ships for its role or a name in ``allowed``; nothing is imported for a name
    that fails the textual check."""
    allowed = {str(name) for name in allowed}
    _refuse_interpolations(hyper_parameters, source)
    for place, target in targets_in(hyper_parameters):
        if isinstance(target, str) and target in allowed:
            continue
        role = place.split(".", 1)[0].split("[", 1)[0]
        top_level = place == f"{role}._target_"
        roles = [role] if top_level and role in SHIPPED else list(SHIPPED)  # a nested one: any shipped role
        if not any(_shipped_for(target, r) for r in roles):
            what = WHAT.get(role, "a part") if top_level else "a part"
            raise UserError(
                f"{source} names {target!r} at {place}, which is not {what} this project ships: building it "
                f"would run code the checkpoint chose. If you trust this checkpoint and that code, allow it by name: "
                f"allow_targets=[{target}] (Python: allow_targets=[{target!r}])"
            )


def _shipped_for(target: Any, role: str) -> bool:
    form, packages, base = SHIPPED[role]
    if not isinstance(target, str) or not re.fullmatch(form, target):
        return False  # checked as text first: nothing outside the project's packages is imported
    from hydra.utils import get_object  # only now: the name is inside a package the project trusts

    try:
        found, base_class = get_object(target), get_object(base)
    except Exception:  # not importable, or no such attribute: not something the project ships
        return False
    return (isinstance(found, type) and issubclass(found, base_class)
            and str(found.__module__).startswith(packages))  # defined there, not imported into it


def _refuse_interpolations(node: Any, source: str, where: str = "") -> None:
    if isinstance(node, str) and "${" in node:
        raise UserError(f"{source} holds an interpolation at {where} ({node!r}); a checkpoint holds resolved "
                        "values only, so this one was not written by src/train.py")
    if isinstance(node, Mapping):
        for key, value in node.items():
            _refuse_interpolations(value, source, f"{where}.{key}" if where else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _refuse_interpolations(value, source, f"{where}[{i}]")
