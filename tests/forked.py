"""A command run as ``python SCRIPT ARGS`` would run it, in a process forked from an interpreter
that has already imported Lightning and the project (multiprocessing's forkserver, started once a
test session; ``helpers.run_command`` uses it). A fresh interpreter spends ~5 s of a tiny run on
those imports; a fork starts with them done. What the command does from then on is the same: its
script runs as ``__main__`` with its own argv, working folder, stdout, stderr and exit code.

What happens before or while the imports run (their warnings, the environment variables they
read) is not seen here: ``run_command(..., fresh=True)`` starts a new interpreter for that."""

from __future__ import annotations

import atexit
import os
import runpy
import signal
import sys
import sysconfig
import traceback

# What the server imports once, before it forks: the heavy part of every command's start.
PRELOAD = ["lightning", "hydra", "ganlab.command_line", "ganlab.training"]

# sys.path as any interpreter of this venv starts it (from the standard library on), without what
# pytest put before it: a child's path is its script's folder, then PYTHONPATH, then these.
_STDLIB = sysconfig.get_paths()["stdlib"]
BASE_PATH = sys.path[next(i for i, p in enumerate(sys.path) if p.endswith(".zip") or p == _STDLIB):]


def run_script(argv: list[str], cwd: str, env: dict, stdout: str, stderr: str) -> None:
    """The child: ``argv[0]`` run as ``__main__`` in ``cwd`` with ``env``, its output into the two
    files, and its exit code what ``python`` would give: SystemExit's, 1 after a traceback, SIGINT's
    for Ctrl-C."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)  # what it starts (DDP's other ranks, joblib's workers) inherits it
    for fd, path in ((1, stdout), (2, stderr)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = list(argv)
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.path.dirname(os.path.abspath(argv[0])), *extra, *BASE_PATH]
    code, interrupted = 0, False
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as stop:
        code = stop.code
    except KeyboardInterrupt:
        interrupted = True
        traceback.print_exc()
    except BaseException:  # noqa: BLE001 - python prints it and exits 1
        traceback.print_exc()
        code = 1
    # atexit's own runner (CPython's, undocumented): a forked child ends with os._exit, which skips them
    atexit._run_exitfuncs()
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)  # sys.exit("message"): python prints it and exits 1
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    if interrupted:  # python ends an uncaught KeyboardInterrupt by SIGINT itself
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)
