"""The one door between the GAN's algorithm (models/gan.py) and how it is executed.

**An update** is Lightning's manual optimization, as in Lightning's GAN example: ``zero_grad``,
``manual_backward(loss)``, the strategy's optimizer step, which runs the strategy's and the
precision plugin's part (DDP's gradient reduction, fp16's loss scaling) and the hooks in
``STEP_HOOKS`` on the module and every callback. When there is none of that to do (one device, a
precision plugin that adds nothing, no hook overridden), the update is the same computation
without the dispatch: ``loss.backward()`` and the torch optimizer's ``step()``.

**The iteration count.** Under manual optimization Lightning counts every optimizer step in
``trainer.global_step``, so the book's three updates per iteration would end a ``max_steps=20000``
run after 6,667 iterations. Updates here step the torch optimizer, which Lightning does not count,
and ``run_iteration`` advances the count once per iteration (``private_apis.count_optimizer_step``)
and checks that it moved by exactly one. So ``trainer.max_steps``, every interval in the configs,
``log_every_n_steps`` and TensorBoard's x-axis count iterations (``ganlab/schedule.py`` reads them).

**Accelerations** wrap the whole iteration: ``compile`` compiles both nets in place, ``cuda_graph``
replays the iteration as one CUDA graph (cuda_graph.py); the iteration itself does not change.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import lightning as L
import torch
from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from ganlab import tags
from ganlab.engine import cuda_graph, private_apis
from ganlab.errors import UserError
from ganlab.checkpoints import random_state
from ganlab.checkpoints.resume import apply_changed_optimizer_settings
from ganlab import divergence
from ganlab.stopping.signals import StopAtIterationEnd
from ganlab.schedule import is_log_iteration

ACCELERATIONS = ("eager", "compile", "cuda_graph")

# What Lightning calls around every backward pass and optimizer step, on the module and on each
# callback (tests/test_engine.py fails if Lightning calls another one there).
STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")

# The Lightning minor version whose step counting the tests last ran on (pyproject.toml caps it).
TESTED_LIGHTNING = "2.6"


class IterationCountError(RuntimeError):
    """Lightning's step counter did not advance by exactly one in an iteration."""


class Engine(L.Callback):
    """Runs the module's updates and iterations. What the module calls:

    - ``step(optimizer, loss)``: one update, through Lightning or directly;
    - ``run_iteration(iteration, *inputs)``: one iteration, eagerly or replayed as a CUDA graph
      (cuda_graph.py), then counted in ``trainer.global_step``;
    - ``check_losses(**losses)``: stop a diverged run (divergence.py);
    - ``optimizer_options()``: what the optimizers must be built with.

    ``acceleration`` is ``eager``, ``compile`` (``torch.compile`` both nets) or ``cuda_graph``
    (GPU: the whole iteration as one CUDA graph). The rest are Lightning hooks: the module hands
    its engine to the trainer (``configure_callbacks``), which calls them; while training, Ctrl-C
    and SIGTERM stop the run at the end of an iteration (stopping/signals.py). How updates run is
    decided once per fit, in ``setup``, when the trainer's callbacks, strategy and precision are
    final.
    """

    def __init__(self, acceleration: str = "eager"):
        if acceleration not in ACCELERATIONS:
            raise UserError(f"model.acceleration={acceleration!r}: use one of {', '.join(ACCELERATIONS)}")
        self.acceleration = acceleration
        self.module: L.LightningModule | None = None
        self.lightning_path = True
        self.graph: cuda_graph.CapturedIteration | None = None
        self.rng_to_restore: dict | None = None
        self.resumed_hparams: dict | None = None
        self.interrupts = StopAtIterationEnd()
        self.warned_exploding = False

    # ----- what the module calls -----

    def step(self, optimizer: LightningOptimizer, loss: torch.Tensor) -> None:
        """One update of ``optimizer``'s net on ``loss``; not counted (``run_iteration`` counts)."""
        optimizer.zero_grad(set_to_none=True)
        if self.lightning_path:
            self.module.manual_backward(loss)
            # what LightningOptimizer.step() does, less its step count
            self.module.trainer.strategy.optimizer_step(optimizer.optimizer, closure=_nothing)
        else:
            loss.backward()
            optimizer.optimizer.step()

    def run_iteration(self, iteration: Callable[..., tuple], *inputs: torch.Tensor) -> tuple:
        """Runs ``iteration(*inputs)`` and advances ``trainer.global_step`` by exactly one."""
        trainer = self.module.trainer
        before = trainer.global_step
        outputs = self.graph(iteration, *inputs) if self.graph is not None else iteration(*inputs)
        private_apis.count_optimizer_step(self.module.optimizers()[0])
        if trainer.global_step != before + 1:
            # a Lightning that counts steps differently would otherwise train forever or stop early
            raise IterationCountError(
                f"trainer.global_step went from {before} to {trainer.global_step} in one training iteration; it "
                f"must advance by exactly one. Lightning {L.__version__} counts optimizer steps differently from "
                f"Lightning {TESTED_LIGHTNING}, which this project is tested on: install 'lightning>="
                f"{TESTED_LIGHTNING},<{_next_minor(TESTED_LIGHTNING)}' (see src/ganlab/engine/private_apis.py)"
            )
        return outputs

    def check_losses(self, **losses: torch.Tensor) -> None:
        """Stops the run (``Diverged``) if a loss is not finite, and warns once if losses explode: on
        log iterations, when they are read anyway."""
        warning = divergence.check_losses(self.module.trainer, **losses)
        if warning and not self.warned_exploding:
            rank_zero_warn(warning)
            self.warned_exploding = True

    def optimizer_options(self) -> dict:
        # a captured iteration needs optimizers that keep their step counters on the device
        return {"capturable": True} if self.graph is not None else {}

    # ----- Lightning hooks -----

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.module = pl_module
        if trainer.world_size > 1 and stage == "fit":
            random_state.split_by_rank(trainer)  # the same seed everywhere gave every rank the same noise
        self.lightning_path = needs_lightning_path(trainer, pl_module)
        self.graph = None
        if self.acceleration == "compile":
            # in place, so state_dict keys and checkpoints stay those of the eager nets
            for net in (pl_module.generator, pl_module.discriminator):
                net.compile()
        elif self.acceleration == "cuda_graph":
            why_not = cuda_graph.why_not(trainer, self.lightning_path)
            if why_not:
                rank_zero_warn(f"model.acceleration=cuda_graph is ignored: {why_not}. Training runs eagerly.")
            else:
                self.graph = cuda_graph.CapturedIteration()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Applied when training starts, not when loaded: loading a checkpoint to sample from it
        # must leave the caller's random state alone.
        if self.rng_to_restore is not None:
            random_state.restore(self.rng_to_restore, trainer)
            self.rng_to_restore = None
        if self.resumed_hparams is not None:
            apply_changed_optimizer_settings(trainer.optimizers, self.resumed_hparams, pl_module.hparams)
            self.resumed_hparams = None
        self.interrupts.install(trainer)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        if trainer.world_size > 1 and is_log_iteration(trainer):
            self.interrupts.agree(trainer)  # a signal to one rank stops every rank after the same iteration

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.interrupts.uninstall()
        if is_log_iteration(trainer) and trainer.global_step % trainer.log_every_n_steps:
            # Lightning hands logged values to the loggers on its own every-n schedule, which the
            # last iteration of a run of, say, 130 (or 30) at every 50 misses: handed over here.
            last = tags.measured(trainer.callback_metrics)  # every registered value logged with self.log
            for logger in trainer.loggers:
                logger.log_metrics(last, step=trainer.global_step)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.interrupts.uninstall()

    @property
    def stopped_by(self) -> int | None:
        """The signal that stopped the last fit early, or None."""
        return self.interrupts.received

    def hand_over_interrupt(self) -> None:
        """After a fit a requeue signal stopped: the cluster's own handling of it (requeue, exit)."""
        self.interrupts.hand_over()

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["rng_state"] = random_state.capture(trainer)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.rng_to_restore = checkpoint.get("rng_state")
        self.resumed_hparams = checkpoint.get("hyper_parameters")


def settle_device(trainer: L.Trainer, float32_matmul_precision: str) -> None:
    """What the device the trainer settled on needs before the first update.

    CPU: Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1 at import, so that asking whether CUDA is
    there never initialises CUDA before a fork; torch's optimizers ask at every ``step()``, and with
    that setting each answer loads the NVML library again (benchmarks/README.md). Once the trainer
    is on the CPU, torch's plain (cached) check is as good an answer.
    CUDA: TF32 matmuls at ``float32_matmul_precision``. Only there: CPU runs keep full float32
    matmuls, and with them their exact repeats.
    """
    if isinstance(trainer.accelerator, CPUAccelerator):
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"
    if isinstance(trainer.accelerator, CUDAAccelerator):
        torch.set_float32_matmul_precision(float32_matmul_precision)


def needs_lightning_path(trainer: L.Trainer, module: L.LightningModule) -> bool:
    """Whether updates must go through Lightning's strategy and precision plugin."""
    plugin = trainer.precision_plugin
    plain_precision = type(plugin) is Precision or (type(plugin) is MixedPrecision and plugin.scaler is None)
    listened = any(is_overridden(hook, module, L.LightningModule) for hook in (*STEP_HOOKS, "backward")) or any(
        is_overridden(hook, callback, L.Callback) for callback in trainer.callbacks for hook in STEP_HOOKS
    )
    return listened or not plain_precision or type(trainer.strategy) is not SingleDeviceStrategy


def _nothing() -> None:
    """The optimizer step's closure: the backward pass has already run."""


def _next_minor(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}"
