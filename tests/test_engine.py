"""The engine: iteration counting and its guard, the update paths, and what they rely on."""

from __future__ import annotations

import ast

import lightning as L
import pytest
import torch

from ganlab.engine import private_apis
from ganlab.engine.engine import STEP_HOOKS, IterationCountError
from ganlab.divergence import Diverged
from helpers import ROOT, StepCounter, fit


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


def _private_uses(path):
    """Underscored attributes of other objects, and imports of underscored modules or names."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if not (isinstance(root, ast.Name) and root.id in ("self", "cls")):  # an object's own
                yield f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names + [alias.name for alias in node.names]:
                if any(part.startswith("_") and not part.startswith("__") for part in name.split(".")):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}: import {name}"


def test_private_apis_are_used_in_one_module_only():
    """Every private torch or Lightning API goes through engine/private_apis.py, which lists why
    and what pins it; anywhere else it is a use nobody is watching."""
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    elsewhere = [use for path in files if path.name != "private_apis.py" for use in _private_uses(path)]
    assert elsewhere == []
    assert list(_private_uses(ROOT / "src" / "ganlab" / "engine" / "private_apis.py")), "the scan finds them"


class InjectNaN(L.Callback):
    """Makes one of G's weights NaN after iteration ``at``, as a diverging update would."""

    def __init__(self, at: int):
        self.at = at

    def on_train_batch_end(self, trainer, pl_module, *_):
        if trainer.global_step == self.at:
            with torch.no_grad():
                next(pl_module.generator.parameters()).view(-1)[0] = float("nan")


def test_a_diverging_run_stops_and_writes_nothing_from_non_finite_weights(make_train_cfg, tmp_path):
    cfg = make_train_cfg("trainer.max_steps=30", "trainer.log_every_n_steps=10", "sample_interval=3",
                         "checkpoint_interval=3")
    counter = StepCounter()
    with pytest.raises(Diverged) as error:
        fit(cfg, InjectNaN(at=8), counter)
    assert str(error.value) == (
        "training diverged by iteration 9: the weights are not finite, so no sample grid was written from them. "
        f"The last good checkpoint is {tmp_path / 'checkpoints' / 'last.ckpt'}. Lower the learning rates "
        "(model.optimizer_g.lr, model.optimizer_d.lr) and train again."
    )
    assert counter.batches == 8, "stopped in the iteration that found it"
    steps = {p.name: torch.load(p, weights_only=True)["global_step"] for p in (tmp_path / "checkpoints").iterdir()}
    assert steps == {"iter_000003.ckpt": 3, "iter_000006.ckpt": 6, "last.ckpt": 6}
    for path in (tmp_path / "checkpoints").iterdir():
        state = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()), path.name
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["iter_000003.png", "iter_000006.png"]


def test_non_finite_losses_stop_the_run_on_a_log_iteration(make_train_cfg, tmp_path):
    cfg = make_train_cfg("trainer.max_steps=30", "trainer.log_every_n_steps=10", "sample_interval=1000",
                         "checkpoint_interval=1000")
    with pytest.raises(Diverged, match=r"^training diverged at iteration 10: d_loss nan, g_loss nan\. No checkpoint"):
        fit(cfg, InjectNaN(at=8))
    assert not (tmp_path / "checkpoints").exists()


def test_losses_are_checked_on_log_iterations_only(make_train_cfg, monkeypatch):
    from ganlab import divergence

    checked = []
    original = divergence.check_losses
    monkeypatch.setattr(divergence, "check_losses", lambda trainer, **losses: checked.append(trainer.global_step)
                        or original(trainer, **losses))
    fit(make_train_cfg("trainer.max_steps=7", "trainer.log_every_n_steps=3"))
    assert checked == [3, 6, 7]


def test_finite_but_exploding_losses_get_one_warning(make_train_cfg):
    cfg = make_train_cfg("trainer.max_steps=40", "trainer.log_every_n_steps=5", "model.optimizer_g.lr=1e6",
                         "model.optimizer_d.lr=1e6", "sample_interval=1000", "checkpoint_interval=1000")
    with pytest.warns(UserWarning, match=r"losses are exploding at iteration \d+ \(.*\): the run is likely diverging") \
            as caught:
        fit(cfg)
    assert len([w for w in caught if "losses are exploding" in str(w.message)]) == 1
