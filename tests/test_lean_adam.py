"""LeanAdam must be torch's fused Adam, bit for bit, only cheaper per step."""

import pytest
import torch

from ganlab.engine import private_apis
from ganlab.engine.lean_adam import KNOWN_OPTIONS, LeanAdam


def make_params(seed=0):
    torch.manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape)) for shape in ((64, 32), (32,), (8, 4), (1,))]


def grads_for(params, step):
    generator = torch.Generator().manual_seed(1000 + step)
    return [torch.randn(p.shape, generator=generator) for p in params]


def run(optimizer_class, steps, second_group=None, closure=False, **settings):
    """``steps`` steps with a halving lr; with ``second_group``, the last two tensors form a group
    of their own with those options."""
    params = make_params()
    groups = [{"params": params}]
    if second_group is not None:
        groups = [{"params": params[:2]}, {"params": params[2:], **second_group}]
    optimizer = optimizer_class(groups, **settings)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    for step in range(steps):
        for p, g in zip(params, grads_for(params, step)):
            p.grad = None if (step == 3 and p.dim() == 1) else g  # some steps skip a parameter
        optimizer.step((lambda: torch.tensor(float(step))) if closure else None)
        schedule.step()
    return params, optimizer


SETTINGS = {
    "seed's Adam": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7},
    "weight decay, maximize": {"lr": 1e-2, "betas": (0.5, 0.9), "weight_decay": 0.1, "maximize": True},
}


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
def test_steps_are_bit_identical_to_torch_fused_adam(settings):
    ours, lean = run(LeanAdam, 6, {"lr": 5e-3}, fused=True, **settings)
    theirs, torch_adam = run(torch.optim.Adam, 6, {"lr": 5e-3}, fused=True, **settings)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    for state, reference in zip(lean.state.values(), torch_adam.state.values()):
        assert state.keys() == reference.keys()
        assert all(torch.equal(state[key], reference[key]) for key in state)


@pytest.fixture
def torch_steps(monkeypatch):
    """Records each call of torch's own step."""
    calls = []
    original = private_apis.adam_step_without_hooks
    monkeypatch.setattr(private_apis, "adam_step_without_hooks", lambda optimizer: calls.append(1) or original(optimizer))
    return calls


def test_after_the_first_step_torch_step_is_not_called(torch_steps):
    run(LeanAdam, 5, fused=True)
    assert torch_steps == [1]  # the first step creates the state; the other four are the lean path


@pytest.mark.parametrize(
    "settings", [{"fused": False}, {"fused": True, "amsgrad": True}], ids=["not fused", "amsgrad"]
)
def test_what_it_does_not_cover_is_torch_step(settings, torch_steps):
    run(LeanAdam, 4, **settings)
    assert len(torch_steps) == 4


def test_a_closure_is_evaluated_once_and_its_loss_returned():
    ours, _ = run(LeanAdam, 4, closure=True, fused=True)
    theirs, _ = run(torch.optim.Adam, 4, fused=True)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    params = make_params()
    optimizer = LeanAdam(params, fused=True)
    evaluations = []
    for step in range(3):
        for p, g in zip(params, grads_for(params, step)):
            p.grad = g
        assert optimizer.step(lambda: evaluations.append(step) or torch.tensor(2.0 * step)) == 2.0 * step
    assert evaluations == [0, 1, 2]


def test_step_hooks_run_once_per_step_on_both_paths():
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # torch wraps Adam.step for its hooks
    params = make_params()
    optimizer = LeanAdam(params, fused=True)
    calls = []
    optimizer.register_step_pre_hook(lambda *_: calls.append("pre"))
    optimizer.register_step_post_hook(lambda *_: calls.append("post"))
    for step in range(3):
        for p, g in zip(params, grads_for(params, step)):
            p.grad = g
        optimizer.step()
    assert calls == ["pre", "post"] * 3


def test_checkpoints_move_between_lean_and_torch_adam():
    """Three steps in one class, the fourth in the other after a state_dict round trip."""
    uninterrupted, _ = run(torch.optim.Adam, 4, fused=True)
    for source_class, target_class in ((LeanAdam, torch.optim.Adam), (torch.optim.Adam, LeanAdam)):
        params, source = run(source_class, 3, fused=True)
        params = [p.detach().clone().requires_grad_() for p in params]
        resumed = target_class(params, fused=True)
        resumed.load_state_dict(source.state_dict())
        for p, g in zip(params, grads_for(params, 3)):
            p.grad = None if p.dim() == 1 else g  # as run() does at step 3
        resumed.step()
        assert all(torch.equal(a, b) for a, b in zip(params, uninterrupted))


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_clears_or_zeroes_every_gradient(set_to_none):
    params = make_params()
    optimizer = LeanAdam([{"params": params[:2]}, {"params": params[2:]}], fused=True)
    for p, g in zip(params, grads_for(params, 0)):
        p.grad = g
    optimizer.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert all(p.grad is None for p in params)
    else:
        assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in params)


def test_steps_under_amp_grad_scaler_are_torch_steps(torch_steps):
    """GradScaler hands a fused optimizer its scale and inf flag, which only torch's step applies."""
    params = make_params()
    optimizer = LeanAdam(params, fused=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    for step in range(3):
        optimizer.zero_grad()
        loss = sum((p * g).sum() for p, g in zip(params, grads_for(params, step)))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    assert len(torch_steps) == 3


def test_it_knows_every_option_of_torchs_adam():
    """An option a torch release adds to Adam must be looked at before LeanAdam's own step may
    serve groups that have it (until then such groups take torch's step)."""
    assert set(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]).defaults) == KNOWN_OPTIONS


def test_an_unknown_option_takes_torchs_step(torch_steps):
    params = make_params()
    optimizer = LeanAdam(params, fused=True)
    optimizer.defaults["future_option"] = True  # as a newer torch's Adam would have
    for step in range(3):
        for p, g in zip(params, grads_for(params, step)):
            p.grad = g
        optimizer.step()
    assert len(torch_steps) == 3
