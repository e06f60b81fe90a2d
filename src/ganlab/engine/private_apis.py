"""Every use of a private (underscored or undocumented) torch or Lightning API in this project.

Nothing outside this module touches one: ``tests/test_engine.py::test_private_apis_are_used_in_one_module_only``
scans the code. Each use below says why nothing public does the job and which test pins it, so
that a torch or Lightning release that changes it fails loudly: a test fails, or a run stops with
an error (``engine/counting.py``'s guard), never a silent drift or hang. ``pyproject.toml`` caps
torch and Lightning at the minor versions these tests last ran on.

| use | why | pinned by |
| --- | --- | --- |
| ``torch._fused_adam_`` and ``torch._foreach_add_`` (``fused_adam_step``) | ``LeanAdam`` (lean_adam.py) calls the kernel that ``torch.optim.Adam(fused=True)`` calls, without torch's per-step bookkeeping around it, which costs a GAN's three small steps per iteration more than the kernel (benchmarks/README.md). No public API runs one fused Adam step on given tensors. | ``tests/test_lean_adam.py``: bit-identical to ``torch.optim.Adam(fused=True)`` in parameters and state, over several settings and a whole training run (``test_training.py::test_default_optimizer_trains_exactly_like_torch_adam``) |
| ``torch.optim.Adam.step.__wrapped__`` and its ``hooked`` flag (``adam_step_without_hooks``) | where ``LeanAdam`` hands a step to torch's, its own ``step`` has already run the step hooks (torch wraps every optimizer class's ``step``); calling torch's wrapped step again would run them twice. | ``tests/test_lean_adam.py::test_step_hooks_run_once_per_step_on_both_paths`` |
| ``LightningOptimizer._on_before_step`` / ``_on_after_step`` (``count_optimizer_step``) | Lightning counts every ``LightningOptimizer.step()`` in ``trainer.global_step`` (Lightning issue 17958). This project steps optimizers without that count (updates.py) and counts once per iteration instead, so ``max_steps`` and every interval are in iterations. These are the callables Lightning's manual-optimization loop installs around a step to count it; no public call advances the counter without also running a step. | the runtime guard in ``counting.count_iteration``; ``tests/test_engine.py::test_a_counter_that_does_not_advance_by_one_stops_the_run`` and ``test_training.py::test_max_steps_is_iterations`` |

Not private, but relied on in the same spirit (Lightning's behaviour rather than a promise):
- the hooks Lightning dispatches around a backward pass and an optimizer step
  (``updates.STEP_HOOKS``), which the direct update path skips when nobody overrides them:
  ``tests/test_engine.py::test_direct_updates_skip_only_the_step_hooks`` records every callback
  hook Lightning calls during a training step and fails if there is one more;
- the options of torch's Adam, each of which LeanAdam's own step handles or sends to torch's
  (``lean_adam.KNOWN_OPTIONS``): ``tests/test_lean_adam.py::test_it_knows_every_option_of_torchs_adam``;
- Lightning's bf16 autocast running with its weight cache off, so that every forward of D sees
  D's current weights: ``tests/test_training.py::test_mixed_precision_forwards_use_the_current_weights``.
"""

from __future__ import annotations

import torch
from lightning.pytorch.core.optimizer import LightningOptimizer


def count_optimizer_step(optimizer: LightningOptimizer) -> None:
    """Advances ``trainer.global_step`` by one, as ``optimizer.step()`` would, without stepping.

    Inside ``training_step``, Lightning's manual-optimization loop has installed these two
    callables on every ``LightningOptimizer``: the first marks a step as started (and starts the
    profiler's "optimizer_step" timer), the second marks it completed, which is what
    ``trainer.global_step`` counts.
    """
    optimizer._on_before_step()
    optimizer._on_after_step()


def fused_adam_step(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, beta1, beta2, weight_decay, eps, maximize):
    """One step of torch's fused Adam on these tensors, as ``torch.optim.Adam(fused=True)`` takes it
    for one group of one device and dtype (no amsgrad, no grad scaler)."""
    torch._foreach_add_(steps, 1)
    torch._fused_adam_(
        params, grads, exp_avgs, exp_avg_sqs, [], steps,
        lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=maximize,
    )


def adam_step_without_hooks(optimizer: torch.optim.Adam) -> None:
    """torch's own Adam step, without running the step hooks (the caller's step already did)."""
    step = torch.optim.Adam.step
    if getattr(step, "hooked", False):
        step = step.__wrapped__
    step(optimizer)
