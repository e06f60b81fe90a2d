"""Parallel jobs waiting on a shared lock say so, once."""

from __future__ import annotations

import logging
import subprocess
import time

from ganlab.file_locks import waiting_for
from helpers import assert_says, command

HOLD = "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); print('held', flush=True); time.sleep(1)"


def test_a_job_that_waits_for_a_lock_says_so_once(tmp_path, caplog):
    path = tmp_path / ".mnist.lock"
    other_job = subprocess.Popen(command("-c", HOLD, str(path)), stdout=subprocess.PIPE, text=True)
    assert other_job.stdout.readline() == "held\n"
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="ganlab.file_locks"), waiting_for(path, "fetching MNIST"):
        waited = time.monotonic() - start
    assert waited > 0.5, "taken only once the other job let go (it holds the lock for a second)"
    other_job.wait(timeout=10)
    (said,) = [r.getMessage() for r in caplog.records]
    assert_says(said, "Waiting for another job that is fetching MNIST", str(path))


def test_a_free_lock_is_taken_without_a_word(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ganlab.file_locks"), waiting_for(tmp_path / "x.lock", "fetching MNIST"):
        pass
    assert caplog.records == []
