"""One clear line for a user's mistake; the full traceback only when asked for."""

from __future__ import annotations

import logging

import pytest
from hydra.errors import InstantiationException

from ganlab.errors import UserError, one_line_errors


def raising(error):
    @one_line_errors
    def task(cfg):
        raise error

    return task


def wrapped_by_hydra():
    """What Hydra raises when a part's constructor raises (``raise ... from``)."""
    error = InstantiationException("Error in call to target 'ganlab.models.gan.GAN'")
    error.__cause__ = UserError("model.d_update='both': use 'separate' (the book's) or 'joint'")
    return error


def test_a_users_mistake_is_one_line_and_exit_1(caplog):
    error = UserError("n=0: ask for more")
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as stop:
        raising(error)(None)
    assert stop.value.code == 1
    assert [r.getMessage() for r in caplog.records] == [str(error)]


def test_hydras_wrapping_is_taken_off(caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit):
        raising(wrapped_by_hydra())(None)
    assert [r.getMessage() for r in caplog.records] == ["model.d_update='both': use 'separate' (the book's) or 'joint'"]


def test_a_parts_mistake_inside_another_part_is_one_line_too(caplog):
    """A net's own check, raised while Hydra builds the GAN that holds it: two wrappings."""
    outer = InstantiationException("Error in call to target 'ganlab.models.gan.GAN'")
    outer.__cause__ = InstantiationException("Error in call to target 'ganlab.models.nets.cgan.CGANGenerator'")
    outer.__cause__.__cause__ = UserError("model.generator.join='add': use multiply (the book's) or concat")
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as stop:
        raising(outer)(None)
    assert stop.value.code == 1
    assert [r.getMessage() for r in caplog.records] == ["model.generator.join='add': use multiply (the book's) or concat"]


@pytest.mark.parametrize("bug", [RuntimeError("a bug"), ValueError("a bad value deep inside torch"),
                                 FileNotFoundError("a library's missing file")])
def test_other_errors_keep_their_traceback(bug):
    """Only the project's own checks raise UserError: any other exception is a bug to see whole."""
    with pytest.raises(type(bug)):
        raising(bug)(None)


def test_hydra_full_error_keeps_the_traceback_of_a_users_mistake(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(UserError):
        raising(UserError("n=0"))(None)
