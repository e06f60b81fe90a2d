"""Bad input gets one clear line and exit code 1, not a traceback wall.

The commands' mistakes (a missing file, a setting out of range, a checkpoint of another model)
raise ``ValueError`` or ``FileNotFoundError`` with a message that says what was wrong and what to
do; Hydra wraps those raised while building a part in ``InstantiationException``. ``one_line_errors``
prints such a message alone and exits 1; ``HYDRA_FULL_ERROR=1`` shows the whole traceback, as
for every other error.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable

from hydra.errors import InstantiationException

log = logging.getLogger("ganlab")


class UserError(Exception):
    """A mistake of the user's or a fault of their machine (missing data, a damaged file), raised by
    the project's own checks with a message that names what was wrong and what to do."""


USER_ERRORS = (ValueError, FileNotFoundError, UserError)


def user_error(err: BaseException) -> BaseException | None:
    """The user-facing error ``err`` is or wraps, if any."""
    if isinstance(err, InstantiationException) and isinstance(err.__cause__, USER_ERRORS):
        return err.__cause__
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
