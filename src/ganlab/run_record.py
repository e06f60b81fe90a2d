"""A run's machine-readable record of itself: what became of it, for the Python API, the report
and any other tool, so that none of them reads the console.

``<run folder>/run.json`` holds the outcome of a run that kept its folder::

    {"status": "finished" | "interrupted" | "diverged" | "failed" | "refused",
     "folder": ..., "iteration": ..., "max_steps": ..., "exit_code": ..., "error": <its one line or null>,
     "checkpoint": <last.ckpt or null>, "metrics": {<each final value by its tag>}}

A caller that starts ``src/train.py`` (``ganlab.train``) names a file in ``GANLAB_RECORD``; the same
record goes there too, also for a run refused before it had a folder, and while it trains the file
says how far it is (``"status": "training"``, ``iteration``, ``max_steps``, ``progress``: the line
the console showed).
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities.rank_zero import rank_zero_only

log = logging.getLogger(__name__)

ENV = "GANLAB_RECORD"
NAME = "run.json"


def write(status: str, folder: str | os.PathLike | None = None, **fields: Any) -> None:
    """Writes the record into ``folder`` (if it exists) and into ``$GANLAB_RECORD`` (if set); under
    DDP, rank 0 alone."""
    if rank_zero_only.rank != 0:
        return
    record = {"status": status, "folder": str(Path(folder).resolve()) if folder is not None else None, **fields}
    record["metrics"] = {k: _finite_or_none(v) for k, v in (record.get("metrics") or {}).items()}
    places = [Path(folder) / NAME] if folder is not None and Path(folder).is_dir() and status != "training" else []
    if os.environ.get(ENV):
        places.append(Path(os.environ[ENV]))
    for path in places:
        _write_json(path, record)


def read(path: str | os.PathLike) -> dict[str, Any] | None:
    """A record, or None where there is none (yet) or it is not one."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "status" in record else None


def _write_json(path: Path, record: dict) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(partial, path)  # a reader never sees half a record
    except OSError as err:  # a full disk: the console and train.log still say what happened
        partial.unlink(missing_ok=True)
        log.warning("could not write the run's record %s (%s)", path, err)


def _finite_or_none(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return number if math.isfinite(number) else None
