"""``make test``'s ``TEST_WORKERS`` (docs/development.md, "Tests"): two pytest-xdist workers by
default, 0 for one process, auto for one per core."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from helpers import ROOT

LIGHT = "tests/test_layout.py"  # three tests that read source files, nothing trained


def pytest_argv(*make_args: str) -> list[str]:
    """The pytest command ``make test`` would run (``make -n`` prints it; nothing is run)."""
    # under `make test TEST_WORKERS=0` the outer make hands its variables down through MAKEFLAGS
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TEST_WORKERS")}
    dry = subprocess.run(["make", "-n", "test", f"ARGS={LIGHT}", *make_args], cwd=ROOT, capture_output=True,
                         text=True, check=True, env=env)
    (line,) = [line for line in dry.stdout.splitlines() if " -m pytest " in line]
    return shlex.split(line)


@pytest.mark.parametrize("make_args, workers", [((), "2"), (("TEST_WORKERS=0",), "0"),
                                                 (("TEST_WORKERS=auto",), "auto")])
def test_the_worker_setting_reaches_pytest(make_args, workers):
    argv = pytest_argv(*make_args)
    assert argv[argv.index("-n") + 1] == workers, argv
    assert argv[-1] == LIGHT and "not slow" in argv, "ARGS and the fast selection still pass through"


@pytest.mark.slow  # three more pytest sessions, each importing the project
@pytest.mark.parametrize("make_args, says", [((), "2 workers"), (("TEST_WORKERS=0",), None),
                                              (("TEST_WORKERS=auto",), " workers [3 items]")])
def test_each_worker_setting_runs_the_tests(make_args, says):
    argv = pytest_argv(*make_args)
    done = subprocess.run([sys.executable, *argv[1:], "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    if says:
        assert says in done.stdout, done.stdout[-2000:]
    else:
        assert "workers" not in done.stdout, "TEST_WORKERS=0 runs in this one process"
