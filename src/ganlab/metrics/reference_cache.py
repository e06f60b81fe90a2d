"""The reference's evaluator features and k-NN radii, kept beside the evaluator so that each run
that scores samples does not embed the 10,000 test images and measure their 10k x 10k distances
again (seconds on a CPU, at every run of a sweep).

The file is keyed by everything the numbers depend on (the evaluator's weights, the reference
images, the device type, the batch size and k), so a stale or foreign file is recomputed, never
used. It is read with ``torch.load(weights_only=True)``: a data folder is untrusted input, and a
damaged or hostile file is recomputed too, with nothing run from it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ganlab.whole_files import NotWritten, write_whole

log = logging.getLogger(__name__)


def reference_key(evaluator: nn.Module, reference: torch.Tensor, device: torch.device, batch_size: int,
                  k: int) -> str:
    """A sha256 of what the reference's features and radii are computed from."""
    digest = hashlib.sha256(f"{device.type} {batch_size} {k} {tuple(reference.shape)}".encode())
    for name, tensor in [*evaluator.state_dict().items(), ("reference", reference)]:
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_reference(path: Path, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(features, radii) from ``path`` if it holds them for ``key``; None otherwise."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        features, radii = saved["features"], saved["radii"]
        if saved["key"] != key or features.ndim != 2 or radii.shape != (len(features),):
            raise ValueError("not this reference's")
        return features, radii
    except FileNotFoundError:
        return None
    except Exception as err:  # damaged, foreign or hostile: recomputed, nothing of it used
        log.info("Recomputing the reference's features: %s could not be used (%s)", path, err)
        return None


def kept_or_computed(path: Path, key: str, compute: Callable[[], tuple[torch.Tensor, torch.Tensor]]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, radii) from ``path``, or else ``compute()``'s, kept there for the next run."""
    kept = load_reference(path, key)
    if kept is None:
        kept = compute()
        save_reference(path, key, *kept)
    return kept


def save_reference(path: Path, key: str, features: torch.Tensor, radii: torch.Tensor) -> None:
    """Keeps them for the next run; a folder that cannot be written only costs the next run the time."""
    try:  # parallel jobs may write it at once: shared
        write_whole(path, lambda file: torch.save({"key": key, "features": features.cpu(), "radii": radii.cpu()},
                                                  file), shared=True, fix="")
    except NotWritten as err:
        log.warning("The reference's features are not cached (%s): each run computes them again (seconds); give "
                    "paths.data_dir= a folder you can write to keep them", err.cause.strerror or err.cause)
