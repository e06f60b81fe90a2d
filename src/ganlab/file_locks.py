"""Locks that parallel jobs share (a sweep's jobs fetching MNIST or training the evaluator at once)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)


@contextmanager
def waiting_for(lock_path: str | os.PathLike, what: str) -> Iterator[None]:
    """Holds the file lock at ``lock_path``; a job that has to wait for it says so, once."""
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("Waiting for another job that is %s (it holds %s)", what, lock_path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
