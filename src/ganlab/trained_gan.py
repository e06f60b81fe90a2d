"""A trained GAN, rebuilt from its training checkpoint on the device asked for."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch

from ganlab.errors import UserError
from ganlab.models import GAN
from ganlab.checkpoints.trust import check_targets
from ganlab.divergence import non_finite
from ganlab.checkpoints.reading import read_checkpoint


def pick_device(device: str) -> str:
    """``auto``: a CUDA GPU if there is one, else the CPU; ``cuda`` only where there is one."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={device}: no CUDA GPU is visible here; use device=cpu (or device=auto)")
    return device


def load_gan(ckpt_path: str | os.PathLike, device: str | torch.device = "cpu", allow_targets: Iterable[str] = ()) -> GAN:
    """Rebuilds the module from a training checkpoint (the nets' configs travel inside it). Each
    class the checkpoint names must be one the project ships for its role, or be in
    ``allow_targets`` (checkpoints/trust.py): opening a checkpoint runs no code it chose."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise UserError(
            f"ckpt_path={ckpt_path} is not a file; pass a checkpoint of a training run, "
            "e.g. ckpt_path=logs/runs/<run>/checkpoints/last.ckpt"
        )
    hyper_parameters = read_checkpoint(path).get("hyper_parameters")  # a clear error for a file that is not one
    if not isinstance(hyper_parameters, dict):
        raise UserError(f"{ckpt_path} is not a checkpoint of this project's GAN (it holds no hyper_parameters)")
    check_targets(hyper_parameters, str(ckpt_path), allow_targets)
    try:
        # weights_only: a checkpoint is data; nothing in it may run code when it is opened.
        # fork_rng: building the nets draws initial weights, which must not move the caller's RNG.
        with torch.random.fork_rng(devices=[]):
            # the checked settings, not a second reading of the file's
            model = GAN.load_from_checkpoint(path, map_location=device, weights_only=True, **hyper_parameters)
    except (KeyError, TypeError, RuntimeError) as err:
        raise UserError(f"{ckpt_path} is not a checkpoint of this project's GAN ({type(err).__name__}: {err})") from err
    if broken := non_finite(model.state_dict()):
        raise UserError(
            f"{ckpt_path} holds non-finite weights ({broken}): "
            "its training diverged, and samples from it would be NaN. Use an earlier checkpoint of the run"
        )
    return model.eval()
