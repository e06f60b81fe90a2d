"""The engine: iteration counting and its guard, the update paths, and what they rely on."""

from __future__ import annotations

import lightning as L
import pytest

from ganlab.engine import private_apis
from ganlab.engine.counting import IterationCountError
from ganlab.engine.updates import STEP_HOOKS
from helpers import StepCounter, fit


@pytest.mark.timeout(120)  # a hang here is the failure this guards against
@pytest.mark.parametrize("counted", [0, 2], ids=["not moving", "moving twice"])
def test_a_counter_that_does_not_advance_by_one_stops_the_run(make_train_cfg, monkeypatch, counted):
    """A Lightning release that counts steps differently must stop the first iteration with an
    error that says what to do, not train forever (counter stuck) or stop early (counting more)."""
    original = private_apis.count_optimizer_step

    def count(optimizer):
        for _ in range(counted):
            original(optimizer)

    monkeypatch.setattr(private_apis, "count_optimizer_step", count)
    counter = StepCounter()
    with pytest.raises(IterationCountError) as error:
        fit(make_train_cfg("trainer.max_steps=50"), counter)
    message = str(error.value)
    assert f"went from 0 to {counted} in one training iteration" in message
    assert f"Lightning {L.__version__}" in message and "install 'lightning>=2.6,<2.7'" in message
    assert counter.batches == 0, "the run must stop in the iteration that went wrong"


class HookRecorder(L.Callback):
    """Records which callback hooks Lightning calls while a training step runs."""

    def __init__(self):
        self.inside_step = False
        self.during_steps: set[str] = set()


def _recording(name):
    def hook(self, *args, **kwargs):
        if name == "on_train_batch_start":
            self.inside_step = True
        elif name == "on_train_batch_end":
            self.inside_step = False
        elif self.inside_step:
            self.during_steps.add(name)

    return hook


for _name in dir(L.Callback):
    if _name.startswith("on_"):
        setattr(HookRecorder, _name, _recording(_name))


def test_direct_updates_skip_only_the_step_hooks(make_train_cfg):
    """The direct update path skips the hooks in STEP_HOOKS when nobody overrides them. That is
    only the same computation if those are all Lightning calls during a training step: a new
    hook there must make this test fail, not be skipped silently."""
    recorder = HookRecorder()  # it overrides every hook, so the run takes Lightning's path
    fit(make_train_cfg("trainer.max_steps=3"), recorder)
    assert recorder.during_steps == set(STEP_HOOKS)
