"""The LightningModule: one training step is one iteration of the book's training loop.

Per iteration, as "GANs in Action" chapter 3 does it:
  1. D is updated on a real batch (label 1), then on a batch of G(z) (label 0), G fixed;
     ``d_update: joint`` makes that a single update on (real loss + fake loss) / 2 instead, and
     ``d_steps_per_iteration: k`` repeats step 1 on k real batches (WGAN's critic iterations).
  2. G is updated, D fixed, to make D say 1 on a fresh G(z).
Conditional nets (chapter 8) are told the digit: D's fakes carry the real batch's labels, as in the
book, and G's update draws random ones. With ``ema_decay``, a moving average of G's weights is
kept and is what ``sample`` (grids, evaluation, generate.py) draws from. With ``augment``, D sees
every image, real or fake, through random differentiable transforms (DiffAugment).

How each update and the iteration are executed (Lightning's path or a direct one, a CUDA graph,
the iteration count, the random state in checkpoints) is the engine's job: ``ganlab/engine``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganlab import tags
from ganlab.engine import Engine
from ganlab.errors import UserError
from ganlab.models.augment import check_policy, diff_augment
from ganlab.models.ema import MovingAverage
from ganlab.models.losses import statistics
from ganlab.schedule import is_log_iteration


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
        generator: Mapping | None = None,
        discriminator: Mapping | None = None,
        optimizer_g: Mapping | None = None,
        optimizer_d: Mapping | None = None,
        loss: Mapping | None = None,
        d_update: str = "separate",
        d_steps_per_iteration: int = 1,
        ema_decay: float | None = None,
        num_sample_images: int = 16,
        sample_seed: int = 0,
        acceleration: str = "eager",
        augment: list[str] | None = None,
    ):
        super().__init__()
        if generator is None or discriminator is None:
            raise UserError("model: a GAN needs a generator and a discriminator; choose model=mlp, dcgan or cgan")
        if d_update not in ("separate", "joint"):
            raise UserError(f"model.d_update={d_update!r}: use 'separate' (the book's) or 'joint'")
        if d_steps_per_iteration < 1:
            raise UserError(f"model.d_steps_per_iteration={d_steps_per_iteration}: it must be at least 1")
        if ema_decay is not None and not 0 < ema_decay < 1:
            raise UserError(f"model.ema_decay={ema_decay}: use a decay between 0 and 1 (e.g. 0.999), or null")
        if augment:
            check_policy(augment)
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
                "acceleration": acceleration,
                "augment": list(augment) if augment else None,
            },
            logger=False,  # the run's whole config goes to the logger instead (training.py)
        )
        self.automatic_optimization = False
        self.engine = Engine(acceleration)
        self.generator = instantiate(self.hparams.generator)
        self.discriminator = instantiate(self.hparams.discriminator)
        self.loss = instantiate(self.hparams.loss)
        self.loss.check(d_update, self.discriminator)
        self.z_dim: int = self.generator.z_dim
        self.num_classes: int = getattr(self.generator, "num_classes", 0)  # 0: unconditional
        # Not trained by an optimizer: updated after each iteration, saved in checkpoints.
        self.generator_ema = MovingAverage(self.generator, ema_decay) if ema_decay is not None else None
        # A fixed noise batch, so sample grids show the same digits evolving. A buffer: it follows
        # the module to its device and into checkpoints.
        fixed = torch.Generator().manual_seed(sample_seed)
        self.register_buffer("sample_z", torch.randn(num_sample_images, self.z_dim, generator=fixed))

    def configure_callbacks(self) -> list[L.Callback]:
        return [self.engine]  # its Lightning hooks: deciding how updates run, the random state

    def configure_optimizers(self):
        options = self.engine.optimizer_options()
        opt_g = instantiate(self.hparams.optimizer_g)(params=self.generator.parameters(), **options)
        opt_d = instantiate(self.hparams.optimizer_d)(params=self.discriminator.parameters(), **options)
        return opt_g, opt_d

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        d_loss, g_loss, real_logits, fake_logits = self.engine.run_iteration(self.iteration, *batch)
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator)
        # Only on log iterations: reading a value back from the GPU waits for it.
        if is_log_iteration(self.trainer):
            self.engine.check_losses(d_loss=d_loss, g_loss=g_loss)
            self.log_statistics(d_loss, g_loss, real_logits, fake_logits)

    def iteration(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One iteration of the book's loop, on ``d_steps_per_iteration`` real batches. Returns
        D's and G's losses, and D's logits on the last real and fake batch before its update."""
        opt_g, opt_d = self.optimizers()
        n = len(images) // self.hparams.d_steps_per_iteration

        # ---------------------------------------
        #  Train the Discriminator (G fixed)
        # ---------------------------------------
        with self.toggled_optimizer(opt_d):
            for real, real_labels in zip(images.split(n), labels.split(n)):
                digits = real_labels if self.num_classes else None  # the book's cGAN fakes these digits
                fake = self.generate(self.noise(n), digits)  # G is frozen: no graph through it
                real_logits = self.judge(real, digits)
                if self.hparams.d_update == "separate":  # the book: one update on each batch
                    d_loss_real = self.loss.real(real_logits)
                    self.engine.step(opt_d, d_loss_real)
                    fake_logits = self.judge(fake, digits)
                    d_loss_fake = self.loss.fake(fake_logits)
                    self.engine.step(opt_d, d_loss_fake)
                    d_loss = (d_loss_real.detach() + d_loss_fake.detach()) / 2
                else:  # one update on both batches
                    fake_logits = self.judge(fake, digits)
                    d_loss = (self.loss.real(real_logits) + self.loss.fake(fake_logits)) / 2
                    if self.loss.has_penalty:  # WGAN-GP's gradient penalty
                        d_loss = d_loss + self.loss.penalty(lambda x: self.judge(x, digits), real, fake)
                    self.engine.step(opt_d, d_loss)

        # ---------------------------------------
        #  Train the Generator (D fixed)
        # ---------------------------------------
        with self.toggled_optimizer(opt_g):
            digits = self.random_labels(n)
            g_loss = self.loss.generator(self.judge(self.generate(self.noise(n), digits), digits))
            self.engine.step(opt_g, g_loss)

        return d_loss.detach(), g_loss.detach(), real_logits.detach(), fake_logits.detach()

    def log_statistics(self, d_loss, g_loss, real_logits, fake_logits) -> None:
        # Not prog_bar=True: Lightning would read progress-bar values back every step.
        # IterationProgressBar shows d_loss and g_loss when they change.
        self.log_dict(
            {
                tags.D_LOSS: d_loss,
                tags.G_LOSS: g_loss,
                **statistics(self.loss, real_logits, fake_logits),  # accuracy, D(x), confusion matrix
                # Lightning would put its batch counter (one behind) on the x-axis; this is the iteration
                "step": float(self.global_step),
            },
            sync_dist=True,  # under DDP: the mean over ranks, reduced only on these log iterations
        )

    # ----- the players -----

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
        """D's logits for ``images`` (of digits ``labels`` when D is conditional), seen through
        ``augment``'s random transforms when it is set (DiffAugment: real and fake alike)."""
        if self.hparams.augment:
            images = diff_augment(images, self.hparams.augment)
        return self.discriminator(images) if labels is None else self.discriminator(images, labels)

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
