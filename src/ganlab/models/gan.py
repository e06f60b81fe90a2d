"""The LightningModule: one training step is one iteration of the seed's training loop.

Per iteration, as "GANs in Action" chapter 3 does it:
  1. D is updated on a real batch (label 1), then on a batch of G(z) (label 0), G fixed;
     ``d_update: joint`` makes that a single update on (real loss + fake loss) / 2 instead, and
     ``d_steps_per_iteration: k`` repeats step 1 on k real batches (WGAN's critic iterations).
  2. G is updated, D fixed, to make D say 1 on a fresh G(z).
Conditional nets (chapter 8) are told the digit: D's fakes carry the real batch's labels, as in the
book, and G's update draws random ones. With ``ema_decay``, an exponential moving average of G's
weights is kept and is what ``sample`` (grids, evaluation, generate.py) draws from.

Counting iterations: under manual optimization Lightning counts every ``optimizer.step()`` in
``trainer.global_step`` (Lightning issue 17958), so two D steps and one G step would advance it by
three. Only G's step is counted: through ``LightningOptimizer.step``, or, when Lightning's path
would only dispatch hooks nobody listens to (``needs_lightning_step_path``), by calling the
optimizer itself and then the counter Lightning would have called (``_count_iteration``). D's
steps go straight to ``Strategy.optimizer_step`` (the same precision and strategy handling,
without the counter) or to the optimizer. So ``trainer.global_step`` is the iteration number, and
``trainer.max_steps``, checkpoint intervals and the logged step axis all count iterations.
tests/test_training.py pins this.

On a GPU, ``cuda_graph=True`` records the whole iteration as one CUDA graph (models/cuda_graph.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from itertools import chain
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from omegaconf import DictConfig, OmegaConf
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ganlab.models.cuda_graph import CapturedIteration


def ends_interval(trainer: L.Trainer, every: int) -> bool:
    """Whether the iteration just finished is one of every ``every``, or the last one: when
    statistics are logged, grids drawn and samples scored."""
    iteration = trainer.global_step
    return (every > 0 and iteration % every == 0) or iteration == trainer.max_steps


def is_log_iteration(trainer: L.Trainer) -> bool:
    """Whether the iteration just finished logs its statistics. The module and the callbacks that
    read what it logged share this one rule."""
    return ends_interval(trainer, trainer.log_every_n_steps)


# What Lightning calls around every backward and optimizer step, on the module and on each callback.
STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def needs_lightning_step_path(trainer: L.Trainer, module: L.LightningModule) -> bool:
    """Whether backward passes and D's steps must go through Lightning's strategy and precision
    plugin, or may be plain ``loss.backward()`` and ``optimizer.step()``.

    Plain is the same computation when the strategy is a single device, the precision plugin adds
    nothing (32-true, or bf16-mixed, which has no grad scaler) and nobody overrides a step hook.
    Then Lightning's path only dispatches no-op hooks, to the module and every callback, around
    each of the iteration's three updates: about 0.5 ms per iteration on this project's 2-core CPU,
    ~8% of an MLP iteration (benchmarks/speed.py). DDP, fp16's grad scaler, or a callback
    that watches gradients switch back to Lightning's path.
    """
    plugin = trainer.precision_plugin
    plain_precision = type(plugin) is Precision or (type(plugin) is MixedPrecision and plugin.scaler is None)
    listened = any(is_overridden(hook, module, L.LightningModule) for hook in (*STEP_HOOKS, "backward")) or any(
        is_overridden(hook, callback, L.Callback) for callback in trainer.callbacks for hook in STEP_HOOKS
    )
    return listened or not plain_precision or type(trainer.strategy) is not SingleDeviceStrategy


# torch.compile modes that add CUDA graphs ("max-autotune-no-cudagraphs" does not)
CUDA_GRAPH_COMPILE_MODES = ("reduce-overhead", "max-autotune")


def _plain(cfg: Any) -> Any:
    """Config nodes as plain containers, so checkpoints load with ``torch.load(weights_only=True)``."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


class GAN(L.LightningModule):
    """Orchestrates the two players; the nets and the loss are built from their configs.

    The nets are given as ``_target_`` configs (not modules) so that a checkpoint carries
    everything needed to rebuild them: ``GAN.load_from_checkpoint(path)`` just works.
    """

    def __init__(
        self,
        generator: Mapping,
        discriminator: Mapping,
        optimizer_g: Mapping,
        optimizer_d: Mapping,
        loss: Mapping,
        d_update: str = "separate",
        d_steps_per_iteration: int = 1,
        ema_decay: float | None = None,
        num_sample_images: int = 16,
        sample_seed: int = 0,
        compile: bool = False,
        compile_mode: str | None = None,
        cuda_graph: bool = False,
    ):
        super().__init__()
        if d_update not in ("separate", "joint"):
            raise ValueError(f"model.d_update={d_update!r}: use 'separate' (the seed's) or 'joint'")
        if d_steps_per_iteration < 1:
            raise ValueError(f"model.d_steps_per_iteration={d_steps_per_iteration}: it must be at least 1")
        # Both refusals below come from runs on an H100 (torch 2.11), which stopped with the errors quoted.
        if compile and compile_mode in CUDA_GRAPH_COMPILE_MODES:
            # The nets' graphs hand back tensors that the next call of the same net overwrites, and
            # an iteration calls G twice and D three times: "accessing tensor output of CUDAGraphs
            # that has been overwritten by a subsequent run".
            raise ValueError(
                f"model.compile_mode={compile_mode} records each net as CUDA graphs, which a GAN iteration "
                "cannot use (it calls each net several times). For CUDA graphs set model.cuda_graph=true "
                "instead: it records the whole iteration, updates included"
            )
        if compile and cuda_graph:
            # The compiled nets' backward inside the captured iteration: "element 0 of tensors does
            # not require grad and does not have a grad_fn".
            raise ValueError(
                "model.cuda_graph=true does not work with model.compile=true: the compiled nets lose their "
                "gradients inside the recorded iteration. Use one of the two"
            )
        if ema_decay is not None and not 0 < ema_decay < 1:
            raise ValueError(f"model.ema_decay={ema_decay}: use a decay between 0 and 1 (e.g. 0.999), or null")
        self.save_hyperparameters(
            {
                "generator": _plain(generator),
                "discriminator": _plain(discriminator),
                "optimizer_g": _plain(optimizer_g),
                "optimizer_d": _plain(optimizer_d),
                "loss": _plain(loss),
                "d_update": d_update,
                "d_steps_per_iteration": d_steps_per_iteration,
                "ema_decay": ema_decay,
                "num_sample_images": num_sample_images,
                "sample_seed": sample_seed,
                "compile": compile,
                "compile_mode": compile_mode,
                "cuda_graph": cuda_graph,
            },
            logger=False,  # the run's whole config goes to the logger instead (training.py)
        )
        self.automatic_optimization = False
        self.generator = instantiate(self.hparams.generator)
        self.discriminator = instantiate(self.hparams.discriminator)
        self.loss = instantiate(self.hparams.loss)
        if self.loss.needs_joint_update and d_update != "joint":
            raise ValueError(
                f"{type(self.loss).__name__} needs model.d_update=joint: its penalty mixes real and fake batches"
            )
        self.z_dim: int = self.generator.z_dim
        self.num_classes: int = getattr(self.generator, "num_classes", 0)  # 0: unconditional
        # Not trained by any optimizer; updated after each G step, and saved in checkpoints.
        self.generator_ema = (
            AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
            .requires_grad_(False)
            if ema_decay is not None
            else None
        )
        # A fixed noise batch, so sample grids show the same digits evolving. A buffer: it follows
        # the module to its device and into checkpoints.
        fixed = torch.Generator().manual_seed(sample_seed)
        self.register_buffer("sample_z", torch.randn(num_sample_images, self.z_dim, generator=fixed))

    def configure_model(self) -> None:
        # Opt-in torch.compile of both nets (in place, so state_dict keys and checkpoints stay
        # the same). Meant for GPUs, and not together with cuda_graph (see __init__). On this
        # project's 2-core CPU the MLP compiled for 30 s and then ran slower, so it is off by default.
        if self.hparams.compile and not getattr(self, "_compiled", False):
            for net in (self.generator, self.discriminator):
                net.compile(mode=self.hparams.compile_mode)
            self._compiled = True

    def configure_optimizers(self):
        # A captured iteration needs optimizers that keep their step counters on the GPU.
        extra = {"capturable": True} if self._wants_cuda_graph else {}
        opt_g = instantiate(self.hparams.optimizer_g)(params=self.generator.parameters(), **extra)
        opt_d = instantiate(self.hparams.optimizer_d)(params=self.discriminator.parameters(), **extra)
        return opt_g, opt_d

    @property
    def _wants_cuda_graph(self) -> bool:
        return bool(self.hparams.get("cuda_graph")) and self.device.type == "cuda"

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(z, labels)

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=self.device)

    def random_labels(self, n: int) -> torch.Tensor | None:
        return torch.randint(self.num_classes, (n,), device=self.device) if self.num_classes else None

    def balanced_labels(self, n: int) -> torch.Tensor | None:
        """Digits 0..9 in equal shares, in order: the rows of a grid, or a balanced sample."""
        return (torch.arange(n, device=self.device) * self.num_classes) // n if self.num_classes else None

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, net=None) -> torch.Tensor:
        net = self.generator if net is None else net
        return net(z) if labels is None else net(z, labels)

    def judge(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D's logits for ``images`` (of digits ``labels`` when D is conditional)."""
        return self.discriminator(images) if labels is None else self.discriminator(images, labels)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        graph = getattr(self, "_graph", None)
        if graph is not None:
            d_loss, g_loss, real_logits, fake_logits = graph(images, labels)
            self._count_iteration()
        else:
            d_loss, g_loss, real_logits, fake_logits = self._iteration(images, labels, count=True)
        if self.generator_ema is not None:
            self._update_ema()

        # Statistics are computed and logged only on log iterations: reading a value back from
        # the GPU waits for it, so a per-step read would stall the GPU every step.
        if is_log_iteration(self.trainer):
            self._log_stats(d_loss, g_loss, real_logits, fake_logits)

    def _iteration(
        self, images: torch.Tensor, labels: torch.Tensor, count: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The iteration's updates: returns D's and G's losses and D's logits on real and fake
        images. With ``count``, G's step also counts the iteration (a CUDA graph counts outside)."""
        opt_g, opt_d = self.optimizers()
        k = self.hparams.d_steps_per_iteration  # the datamodule serves k real batches per iteration
        n = images.shape[0] // k

        # -------------------------
        #  Train the Discriminator (G fixed)
        # -------------------------
        with self.toggled_optimizer(opt_d):
            for real, real_labels in zip(images.split(n), labels.split(n)):
                fake_labels = real_labels if self.num_classes else None  # the book's cGAN does this
                fake = self.generate(self.noise(n), fake_labels)  # G is frozen: no graph through it
                d_loss, real_logits, fake_logits = self._discriminator_step(
                    opt_d, real, fake, fake_labels
                )

        # ---------------------
        #  Train the Generator (D fixed)
        # ---------------------
        with self.toggled_optimizer(opt_g):
            fake_labels = self.random_labels(n)
            g_loss = self.loss.generator(self.judge(self.generate(self.noise(n), fake_labels), fake_labels))
            self._update(opt_g, g_loss, counted=count)  # the one step per iteration Lightning counts
        return d_loss, g_loss.detach(), real_logits, fake_logits

    def _discriminator_step(self, opt_d, real, fake, labels) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One or two D updates (``d_update``); returns D's loss and its logits on the real and
        fake batch from before each update, as Keras' ``train_on_batch`` reports them."""
        if self.hparams.d_update == "separate":
            real_logits, loss_real = self._discriminator_update(opt_d, real, labels, self.loss.real)
            fake_logits, loss_fake = self._discriminator_update(opt_d, fake, labels, self.loss.fake)
            return (loss_real + loss_fake) / 2, real_logits, fake_logits
        real_logits, fake_logits = self.judge(real, labels), self.judge(fake, labels)
        loss = (self.loss.real(real_logits) + self.loss.fake(fake_logits)) / 2
        penalty = self.loss.penalty(lambda x: self.judge(x, labels), real, fake)
        if penalty is not None:
            loss = loss + penalty
        self._update(opt_d, loss, counted=False)
        return loss.detach(), real_logits.detach(), fake_logits.detach()

    def _discriminator_update(
        self, opt_d, images: torch.Tensor, labels: torch.Tensor | None, loss_fn: Callable[[torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One D update on one batch; returns the logits and loss from before the update."""
        logits = self.judge(images, labels)
        loss = loss_fn(logits)
        self._update(opt_d, loss, counted=False)
        return logits.detach(), loss.detach()

    def _update(self, optimizer, loss: torch.Tensor, counted: bool) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self._lightning_step_path:
            self.manual_backward(loss)
            if counted:
                optimizer.step()  # LightningOptimizer: runs the step and counts the iteration
            else:
                self.trainer.strategy.optimizer_step(optimizer.optimizer, closure=lambda: None)
            return
        loss.backward()
        optimizer.optimizer.step()
        if counted:
            self._count_iteration()

    def _count_iteration(self) -> None:
        """Advances ``trainer.global_step`` by one, as a step through ``LightningOptimizer`` would.

        These are the two callables Lightning's manual-optimization loop installs around every
        ``LightningOptimizer.step`` (they count the step and time it for the profiler); on the
        plain path the step itself has already run, or was replayed by the CUDA graph.
        """
        opt_g = self.optimizers()[0]
        opt_g._on_before_step()
        opt_g._on_after_step()

    def _update_ema(self) -> None:
        """``generator_ema.update_parameters(generator)``, without its per-step host reads.

        torch's ``AveragedModel.update_parameters`` asks ``n_averaged == 0`` and ``> 0`` on every
        call, each a wait for the GPU. Once the average has started, this applies the same
        update (its own ``multi_avg_fn``, per dtype as torch groups it) with no read.
        """
        ema = self.generator_ema
        if not getattr(self, "_ema_started", False):
            ema.update_parameters(self.generator)  # the first one copies G
            self._ema_started = True
            return
        for averaged, current in self._ema_groups:
            ema.multi_avg_fn(averaged, current, ema.n_averaged)
        ema.n_averaged += 1

    @functools.cached_property
    def _ema_groups(self) -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
        """(averaged, live) tensors of G by dtype, gathered once per fit: the same tensors every step,
        updated in place (detached views, so a move to another device makes them stale)."""
        groups: dict[torch.dtype, tuple[list, list]] = {}
        averaged = chain(self.generator_ema.module.parameters(), self.generator_ema.module.buffers())
        current = chain(self.generator.parameters(), self.generator.buffers())
        for a, c in zip(averaged, current, strict=True):
            group = groups.setdefault(a.dtype, ([], []))
            group[0].append(a.detach())
            group[1].append(c.detach())
        return list(groups.values())

    def _log_stats(self, d_loss, g_loss, real_logits, fake_logits) -> None:
        # Chapter 3.2.2's confusion matrix at threshold 0.5 (logit 0): real is the positive class.
        true_pos = (real_logits > 0).float().mean()
        false_pos = (fake_logits > 0).float().mean()
        # Not prog_bar=True: Lightning would read progress-bar values back every step.
        # IterationProgressBar shows d_loss and g_loss when they change.
        self.log_dict(
            {
                "d_loss": d_loss,
                "g_loss": g_loss,
                # the seed's accuracy: mean of Keras' binary accuracy on the real and fake batches
                "d_accuracy": (true_pos + 1 - false_pos) / 2,
                "D(x)": torch.sigmoid(real_logits).mean(),
                "D(G(z))": torch.sigmoid(fake_logits).mean(),
                "confusion/true_positive": true_pos,
                "confusion/false_negative": 1 - true_pos,
                "confusion/true_negative": 1 - false_pos,
                "confusion/false_positive": false_pos,
                # Lightning would put its batch counter (one behind) on the x-axis; this is the iteration
                "step": float(self.global_step),
            }
        )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The noise z comes from torch's global generator; saving its state makes a resumed CPU
        # run repeat the uninterrupted one exactly (the data sampler's state is saved by Lightning).
        checkpoint["rng_state"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["rng_state"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Applied when training starts: loading a checkpoint to sample must not touch the RNG.
        self._rng_state_to_restore = checkpoint.get("rng_state")

    @property
    def _lightning_step_path(self) -> bool:
        # Decided once per fit (on_train_start), when the trainer's callbacks and plugins are final;
        # Lightning's path, the safe one, when training_step is called some other way.
        return getattr(self, "_step_path", True)

    def on_train_start(self) -> None:
        self._step_path = needs_lightning_step_path(self.trainer, self)
        self._graph = self._make_graph()
        if self.generator_ema is not None:
            self._ema_started = bool(self.generator_ema.n_averaged > 0)  # > 0 when resumed
            self.__dict__.pop("_ema_groups", None)  # built again for the tensors this fit trains
        state, self._rng_state_to_restore = getattr(self, "_rng_state_to_restore", None), None
        if state is None:
            return
        torch.set_rng_state(state["cpu"])
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        if self.trainer.world_size > 1:
            # rank 0 saved its state; every rank draws its own noise from here on
            torch.manual_seed(int(torch.randint(2**62, (1,))) + self.trainer.global_rank)

    def _make_graph(self) -> CapturedIteration | None:
        """The CUDA-graph iteration when ``cuda_graph`` is asked for and can be used, else None."""
        if not self.hparams.get("cuda_graph"):
            return None
        why_not = None
        if self.device.type != "cuda":
            why_not = f"training runs on {self.device.type}, and CUDA graphs exist on CUDA GPUs only"
        elif self._lightning_step_path:
            why_not = (
                "it needs one device, 32-true or bf16-mixed precision, and no callback or module hook "
                "that watches backward passes or optimizer steps (the graph replays those without hooks)"
            )
        if why_not:
            rank_zero_warn(f"model.cuda_graph=true is ignored: {why_not}. Training runs eagerly.")
            return None
        return CapturedIteration(self._iteration)

    @torch.no_grad()
    def sample(
        self,
        z: torch.Tensor | None = None,
        n: int | None = None,
        seed: int | None = None,
        labels: torch.Tensor | None = None,
        batch_size: int = 1000,
    ) -> torch.Tensor:
        """Images in [-1, 1] from G (its moving average when ``ema_decay`` is set) in eval mode.

        For the given noise ``z``, or else for ``n`` fresh draws (from ``seed`` when given, so the
        same seed gives the same images), generated ``batch_size`` at a time. A conditional G
        draws the digits ``labels``, by default 0..9 in equal shares and in order.
        """
        if z is None:
            rng = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
            z = torch.randn(n, self.z_dim, generator=rng, device=self.device)
        z = z.to(self.device)
        if self.num_classes and labels is None:
            labels = self.balanced_labels(len(z))
        net = self.generator_ema.module if self.generator_ema is not None else self.generator
        was_training = net.training
        net.eval()
        try:
            chunks = [
                self.generate(z_chunk, None if labels is None else labels[i : i + batch_size].to(self.device), net)
                for i, z_chunk in zip(range(0, len(z), batch_size), z.split(batch_size))
            ]
        finally:
            net.train(was_training)
        return torch.cat(chunks)
