"""Files written whole or not at all, and one line when they cannot be.

Every file a run or a command writes (checkpoints, sample grids, the GIF, the curves, the report,
generate.py's images) goes through ``write_whole``: it is written under a hidden name beside its
own, flushed to disk and renamed into place, which replaces an older file in one step. A full
disk, a read-only folder or a kill leaves the older file (or none), never a 0-byte or partial one,
and a failure of the file system is ``NotWritten``: one line naming the file and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ganlab.errors import UserError

# What to do, for the files of a run (its folder is under paths.log_dir)
RUN_FIX = "Free some space (or point paths.log_dir at a disk that has it) and resume with ckpt_path=auto"


class NotWritten(UserError):
    """A file could not be written; nothing of it was left (the file before it, if any, is whole)."""

    def __init__(self, path: Path, err: OSError, fix: str, what: str = "", kept: str = ""):
        self.path, self.cause = Path(path), err
        super().__init__(f"could not write {what}{self.path.name} into {self.path.parent}: {err.strerror or err}"
                         f"{'; ' + kept if kept else ''}. {fix}")


def write_whole(path: str | os.PathLike, write: Callable[[BinaryIO], object], fix: str = RUN_FIX,
                error: Callable[[Path, OSError], Exception] | None = None, shared: bool = False) -> Path:
    """Writes ``path`` with ``write(file)`` (the file open for writing bytes), whole or not at all.

    An error of the file system (also one that a writer reports as a RuntimeError raised while
    handling it, as torch's does) raises ``error(path, os_error)``, by default ``NotWritten`` with
    ``fix``; any other error is a bug and keeps its traceback. ``shared``: other processes may
    write the same file at once (a cache in the data folder), so each stages under a name of its own.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial" if shared else f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except (OSError, RuntimeError) as err:  # a full disk, a read-only or immutable folder, a quota
        cause = os_error_in(err)
        if cause is None:
            raise  # not the file system's doing: a bug, with its traceback
        raise (error or (lambda p, e: NotWritten(p, e, fix)))(path, cause) from err
    finally:
        try:
            partial.unlink(missing_ok=True)
        except OSError:  # a folder that cannot be written holds no partial file either
            pass
    return path


def os_error_in(err: BaseException | None) -> OSError | None:
    """The file system's error behind ``err``: torch's writer reports a full disk as a RuntimeError
    ("unexpected pos") raised while handling the OSError."""
    while err is not None:
        if isinstance(err, OSError):
            return err
        err = err.__cause__ or err.__context__
    return None
