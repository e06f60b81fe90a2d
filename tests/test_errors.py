"""One clear line for a user's mistake; the full traceback only when asked for."""

from __future__ import annotations

import logging

import pytest
from hydra.errors import InstantiationException

from ganlab.errors import one_line_errors


def raising(error):
    @one_line_errors
    def task(cfg):
        raise error

    return task


def wrapped_by_hydra():
    """What Hydra raises when a part's constructor raises (``raise ... from``)."""
    error = InstantiationException("Error in call to target 'ganlab.models.gan.GAN'")
    error.__cause__ = ValueError("model.d_update='both': use 'separate' (the book's) or 'joint'")
    return error


@pytest.mark.parametrize("error", [ValueError("n=0: ask for more"), FileNotFoundError("ckpt_path=x is not a file")])
def test_a_users_mistake_is_one_line_and_exit_1(error, caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as stop:
        raising(error)(None)
    assert stop.value.code == 1
    assert [r.getMessage() for r in caplog.records] == [str(error)]


def test_hydras_wrapping_is_taken_off(caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit):
        raising(wrapped_by_hydra())(None)
    assert [r.getMessage() for r in caplog.records] == ["model.d_update='both': use 'separate' (the book's) or 'joint'"]


def test_other_errors_and_hydra_full_error_keep_the_traceback(monkeypatch):
    with pytest.raises(RuntimeError):
        raising(RuntimeError("a bug"))(None)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ValueError):
        raising(ValueError("n=0"))(None)
