"""Every use of a private (underscored or undocumented) torch or Lightning API in this project.

Nothing outside this module touches one: ``tests/test_engine.py::test_private_apis_are_used_in_one_module_only``
scans the code. Each use below says why nothing public does the job and which test pins it, so
that a torch or Lightning release that changes it fails loudly: a test fails, or a run stops with
an error (the guard in ``engine.Engine.run_iteration``), never a silent drift or hang. ``pyproject.toml`` caps
torch and Lightning at the minor versions these tests last ran on.

| use | why | pinned by |
| --- | --- | --- |
| ``LightningOptimizer._on_before_step`` / ``_on_after_step`` (``count_optimizer_step``) | Lightning counts every ``LightningOptimizer.step()`` in ``trainer.global_step`` (Lightning issue 17958). This project steps optimizers without that count (engine.py) and counts once per iteration instead, so ``max_steps`` and every interval are in iterations. These are the callables Lightning's manual-optimization loop installs around a step to count it; no public call advances the counter without also running a step. | the runtime guard in ``Engine.run_iteration``; ``tests/test_engine.py::test_a_counter_that_does_not_advance_by_one_stops_the_run`` and ``test_training.py::test_max_steps_is_iterations`` |

Not private, but relied on in the same spirit (Lightning's behaviour rather than a promise):
- the hooks Lightning dispatches around a backward pass and an optimizer step
  (``engine.STEP_HOOKS``), which the direct update path skips when nobody overrides them:
  ``tests/test_engine.py::test_direct_updates_skip_only_the_step_hooks`` records every callback
  hook Lightning calls during a training step and fails if there is one more;
- Lightning's bf16 autocast running with its weight cache off, so that every forward of D sees
  D's current weights: ``tests/test_training.py::test_mixed_precision_forwards_use_the_current_weights``.
"""

from __future__ import annotations

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
