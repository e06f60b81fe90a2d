"""Bad input gets one clear line and exit code 1, not a traceback wall.

The project's own checks (a missing file, a setting out of range, a checkpoint of another model)
raise ``UserError`` with a message that names what was wrong and what to do; Hydra wraps those
raised while building a part in ``InstantiationException``. ``one_line_errors`` prints such a
message alone and exits 1. Any other exception (a bug, here or in a library) keeps its traceback,
and ``HYDRA_FULL_ERROR=1`` shows the traceback of a user error too.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable

from hydra.errors import InstantiationException

log = logging.getLogger("ganlab")


class UserError(ValueError):
    """A mistake of the user's or a fault of their machine (missing data, a damaged file, a full
    disk), raised by the project's own checks with a message that names what was wrong and what
    to do. A ValueError, so that code that takes bad values as such still does."""


USER_ERRORS = (UserError,)


def user_error(err: BaseException) -> BaseException | None:
    """The user-facing error ``err`` is or wraps, if any."""
    while isinstance(err, InstantiationException) and err.__cause__ is not None:  # a part of a part: nested
        err = err.__cause__
    return err if isinstance(err, USER_ERRORS) else None


def one_line_errors(task: Callable) -> Callable:
    """Wraps a Hydra task: a user error is logged as one line, then the command exits 1."""

    @functools.wraps(task)
    def run(cfg):
        try:
            return task(cfg)
        except Exception as err:
            mistake = user_error(err)
            if mistake is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            log.error("%s", mistake)
            raise SystemExit(1) from None

    return run
