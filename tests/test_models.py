"""Architectures and recipes: every combination trains, and each recipe does what its paper says."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from hydra.errors import InstantiationException
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import ganlab.models.gan as gan_module
from ganlab.errors import UserError
from ganlab.models import augment
from ganlab.models.augment import cutout, diff_augment, translation
from ganlab.models.losses import HingeLoss, LeastSquaresLoss, NonSaturatingLoss, WassersteinGPLoss, statistics
from ganlab.models.nets.cgan import CGANDiscriminator, CGANGenerator
from ganlab.models.nets.dcgan import DCGANDiscriminator, DCGANGenerator, MinibatchStd
from ganlab.models.nets.mlp import MLPDiscriminator
from helpers import CONF_DIR, StepCounter, fit, scalars


# WGAN-GP's loss needs one D update on both batches and a critic without batch norm; its 5 critic
# steps are the recipe's (experiment=wgan_gp), kept here to count them.
WGAN_GP = ["model.d_update=joint", "model.d_steps_per_iteration=5"]


# Every loss on mlp, and the conv nets with the book's loss and WGAN-GP; their other pairs in test-full
PAIRS = [
    pytest.param(model, loss, marks=[pytest.mark.slow] if model != "mlp" and loss in ("hinge", "lsgan") else [])
    for model in ("mlp", "dcgan", "cgan") for loss in ("bce", "hinge", "lsgan", "wgan_gp")
]


@pytest.mark.parametrize("model, loss", PAIRS)
def test_every_model_and_loss_trains(make_train_cfg, tmp_path, model, loss):
    extra = WGAN_GP if loss == "wgan_gp" else []
    if loss == "wgan_gp" and model != "mlp":
        extra = [*extra, "model.discriminator.batch_norm=false"]
    counter = StepCounter()
    _, trainer = fit(
        make_train_cfg(f"model={model}", f"loss={loss}", "data.batch_size=8", "trainer.max_steps=2",
                       "trainer.log_every_n_steps=1", *extra),
        counter,
    )
    d_steps = {"bce": 2, "hinge": 2, "lsgan": 2, "wgan_gp": 5}[loss]  # separate real+fake, or 5 joint
    assert trainer.global_step == 2 and counter.g_steps == 2 and counter.d_steps == 2 * d_steps
    losses = [v for _, v in scalars(tmp_path, "1_losses/d_loss")] + [v for _, v in scalars(tmp_path, "1_losses/g_loss")]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    grid = sorted((tmp_path / "samples").glob("iter_*.png"))[-1]
    assert grid.name == "iter_000002.png"


def test_critic_steps_use_fresh_real_batches(make_train_cfg, monkeypatch):
    reals = []
    original = WassersteinGPLoss.penalty

    def recording(self, discriminator, real, fake):  # called once per critic step with its real batch
        reals.append(real.clone())
        return original(self, discriminator, real, fake)

    monkeypatch.setattr(WassersteinGPLoss, "penalty", recording)
    fit(make_train_cfg("experiment=wgan_gp", "data.batch_size=8", "trainer.max_steps=2"))
    assert len(reals) == 2 * 5 and all(r.shape == (8, 1, 28, 28) for r in reals)
    for iteration in (reals[:5], reals[5:]):
        assert all(not torch.equal(a, b) for i, a in enumerate(iteration) for b in iteration[i + 1 :])


@pytest.mark.parametrize(
    ("generator", "discriminator", "conditional"),
    [(DCGANGenerator(), DCGANDiscriminator(), False), (CGANGenerator(), CGANDiscriminator(), True)],
    ids=["dcgan", "cgan"],
)
def test_conv_nets_shapes_and_ranges(generator, discriminator, conditional):
    z, labels = torch.randn(6, 100), torch.arange(6) % 10
    images = generator(z, labels) if conditional else generator(z)
    assert images.shape == (6, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    logits = discriminator(images, labels) if conditional else discriminator(images)
    assert logits.shape == (6,)


def test_dcgan_is_the_books():
    g, d = DCGANGenerator(), DCGANDiscriminator()
    shapes = []
    x = torch.randn(2, 100)
    for layer in g.net:
        x = layer(x)
        if isinstance(layer, nn.ConvTranspose2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(128, 14, 14), (64, 14, 14), (1, 28, 28)]
    convs = [m for m in d.net if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128] and all(c.stride == (2, 2) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.net) == 2
    assert not any(isinstance(m, nn.BatchNorm2d) for m in DCGANDiscriminator(batch_norm=False).net)


def test_conv_nets_narrow_with_channels():
    g = CGANGenerator(channels=16)
    widths = [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [32, 16, 1] and g.body.net[0].out_features == 64 * 7 * 7
    d = CGANDiscriminator(channels=8)
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [8, 16, 32]
    images = g(torch.randn(4, 100), torch.arange(4))
    assert images.shape == (4, 1, 28, 28) and d(images, torch.arange(4)).shape == (4,)


@pytest.mark.parametrize("join", ["multiply", "concat"])
def test_conditional_generator_depends_on_the_digit(join):
    g = CGANGenerator(join=join).eval()
    z = torch.randn(1, 100).repeat(10, 1)
    images = g(z, torch.arange(10))
    assert all(not torch.equal(images[0], images[d]) for d in range(1, 10)), "the label must change the image"


def test_concat_join_hands_g_the_noise_untouched():
    g = CGANGenerator(join="concat")
    first = g.body.net[0]
    assert first.in_features == 110 and g.label_embedding.embedding_dim == 10
    z, labels = torch.randn(3, 100), torch.tensor([0, 4, 9])
    expected = first(torch.cat([z, g.label_embedding(labels)], dim=1))
    seen = []
    first.register_forward_hook(lambda module, inputs, output: seen.append(output))
    g(z, labels)
    torch.testing.assert_close(seen[0], expected)
    with pytest.raises(UserError, match="model.generator.join='add'"):
        CGANGenerator(join="add")


def test_gradient_penalty_has_the_textbook_form():
    # a linear critic D(x) = <w, x> has gradient w everywhere: GP = weight * (||w|| - 1)^2
    w = torch.zeros(1, 28, 28)
    w[0, 0, :9] = 1.0  # ||w|| = 3
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(16, 1, 28, 28), torch.randn(16, 1, 28, 28)
    assert WassersteinGPLoss(gp_weight=10).penalty(critic, real, fake).item() == pytest.approx(10 * (3 - 1) ** 2)
    # and it is not zero for a real critic, and it reaches the critic's weights
    d = MLPDiscriminator()
    penalty = WassersteinGPLoss().penalty(d, real, fake)
    penalty.backward()
    assert penalty.item() > 0 and d.net[1].weight.grad.abs().sum() > 0


def test_losses_are_their_papers():
    x = torch.tensor([-2.0, 0.5, 3.0])
    torch.testing.assert_close(HingeLoss().real(x), torch.relu(1 - x).mean())
    torch.testing.assert_close(HingeLoss().fake(x), torch.relu(1 + x).mean())
    torch.testing.assert_close(HingeLoss().generator(x), -x.mean())
    torch.testing.assert_close(LeastSquaresLoss().real(x), 0.5 * ((x - 1) ** 2).mean())
    torch.testing.assert_close(LeastSquaresLoss().fake(x), 0.5 * (x**2).mean())
    torch.testing.assert_close(WassersteinGPLoss().real(x) + WassersteinGPLoss().fake(x), torch.tensor(0.0))
    assert not NonSaturatingLoss().has_penalty and WassersteinGPLoss().has_penalty


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["model.d_update=separate", "model.discriminator.batch_norm=false"], "needs model.d_update=joint"),
        (["model.d_update=joint"], "set model.discriminator.batch_norm=false"),
    ],
)
def test_gradient_penalty_loss_refuses_what_it_cannot_train_with(make_train_cfg, overrides, match):
    with pytest.raises((ValueError, InstantiationException), match=match):
        fit(make_train_cfg("model=dcgan", "loss=wgan_gp", *overrides))


def test_spectral_norm_bounds_the_discriminators_layers():
    d = DCGANDiscriminator(spectral_norm=True)
    d.train()
    for _ in range(20):  # power iteration converges over forward passes
        d(torch.randn(4, 1, 28, 28))
    for layer in (m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))):
        sigma = torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, rel=0.1)


def test_ema_weights_are_kept_and_are_the_ones_sampled(make_train_cfg):
    model, _ = fit(make_train_cfg("model.ema_decay=0.5", "trainer.max_steps=3"))
    live = dict(model.generator.named_parameters())
    ema = dict(model.generator_ema.module.named_parameters())
    assert live.keys() == ema.keys()
    assert any(not torch.equal(live[k], ema[k]) for k in live), "the average must lag the live weights"
    z = torch.randn(5, 100)
    with torch.no_grad():
        from_ema = model.generator_ema.module.eval()(z)
        from_live = model.generator.eval()(z)
    torch.testing.assert_close(model.sample(z), from_ema)
    assert not torch.allclose(model.sample(z), from_live)
    assert int(model.generator_ema.n_averaged) == 3


class ReferenceAverage(L.Callback):
    """torch's own AveragedModel, updated from the live G after every iteration."""

    def on_train_start(self, trainer, pl_module):
        self.ema = AveragedModel(pl_module.generator, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)

    def on_train_batch_end(self, trainer, pl_module, *_):
        self.ema.update_parameters(pl_module.generator)


@pytest.mark.parametrize("model", ["mlp", "dcgan"])  # dcgan: BatchNorm buffers, int64 counters among them
def test_moving_average_is_torchs(make_train_cfg, model):
    reference = ReferenceAverage()
    trained, _ = fit(make_train_cfg(f"model={model}", "model.ema_decay=0.9", "trainer.max_steps=4",
                     "data.batch_size=8"), reference)
    ours = trained.generator_ema.state_dict()
    for name, value in reference.ema.state_dict().items():
        assert torch.equal(ours[name], value), name


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")))
def test_every_experiment_composes_and_trains(make_train_cfg, tmp_path, experiment):
    _, trainer = fit(make_train_cfg(f"experiment={experiment}", "trainer.max_steps=2", "data.batch_size=8",
                                    "trainer.log_every_n_steps=1"))
    assert trainer.global_step == 2
    losses = [v for tag in ("1_losses/d_loss", "1_losses/g_loss") for _, v in scalars(tmp_path, tag)]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)


def test_translation_shifts_each_image_by_at_most_an_eighth():
    torch.manual_seed(0)
    images = torch.full((64, 1, 28, 28), -1.0)
    images[:, :, 14, 14] = 1.0  # one ink dot in the middle
    shifted = translation(images)
    assert shifted.shape == images.shape and set(shifted.unique().tolist()) == {-1.0, 1.0}
    dots = [(img[0] == 1).nonzero().tolist() for img in shifted]
    assert all(len(d) == 1 and abs(d[0][0] - 14) <= 4 and abs(d[0][1] - 14) <= 4 for d in dots)
    assert len({tuple(d[0]) for d in dots}) > 10, "every image draws its own shift"


def test_cutout_blanks_one_square_per_image():
    torch.manual_seed(0)
    cut = cutout(torch.ones(64, 1, 28, 28))
    for img in cut[:, 0]:
        rows, cols = (img == -1).nonzero(as_tuple=True)
        assert 0 < len(rows) <= 14 * 14 and set(img.unique().tolist()) <= {-1.0, 1.0}
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert len(rows) == height * width, "the blanked pixels form one rectangle (a square cut by the border)"


def test_diff_augment_passes_gradients_to_the_generator():
    fake = torch.randn(8, 1, 28, 28, requires_grad=True)
    diff_augment(fake, ["translation", "cutout"]).sum().backward()
    assert fake.grad is not None and (fake.grad != 0).any() and (fake.grad == 0).any()


def test_augment_makes_d_judge_transformed_real_and_fake_images(make_train_cfg, monkeypatch, tmp_path):
    calls = []

    def recording(images, policy):
        out = augment.diff_augment(images, policy)
        calls.append((images.detach(), out.detach()))
        return out

    monkeypatch.setattr(gan_module, "diff_augment", recording)
    fit(make_train_cfg("model.augment=[translation,cutout]", "trainer.max_steps=2", "data.batch_size=8"))
    assert len(calls) == 2 * 3, "each iteration: D's real batch, D's fake batch, G's fake batch"
    for i, (before, after) in enumerate(calls):
        assert after.shape == before.shape
        # all but perhaps one: a shift of 0 with a cut that misses the digit leaves an image as it was
        assert sum(not torch.equal(a, b) for a, b in zip(after, before)) >= len(before) - 1
        if i % 3:  # G's images never reach -1 exactly (tanh): the blank square shows
            assert all((a == -1).sum() > 0 for a in after), "a blank square each"
    calls.clear()
    fit(make_train_cfg("trainer.max_steps=2", "data.batch_size=8", output_dir=tmp_path / "plain"))
    assert calls == [], "no augmentation unless asked for"


def test_an_unknown_augmentation_is_refused(make_train_cfg):
    with pytest.raises(InstantiationException, match=r"model.augment=\['rotate'\]: unknown \['rotate'\]"):
        fit(make_train_cfg("model.augment=[rotate]", "trainer.max_steps=1"))


def test_minibatch_std_gives_d_the_batchs_spread():
    d = DCGANDiscriminator(minibatch_std=True)
    layer = next(m for m in d.net if isinstance(m, MinibatchStd))
    x = torch.randn(5, 128, 4, 4)
    out = layer(x)
    assert out.shape == (5, 129, 4, 4) and torch.allclose(out[:, -1], x.std(0, unbiased=False).mean().expand(5, 4, 4))
    assert torch.equal(layer(x[:1].repeat(5, 1, 1, 1))[:, -1], torch.zeros(5, 4, 4)), "copies have no spread"
    assert d(torch.randn(5, 1, 28, 28)).shape == (5,)


def test_ds_statistics_are_in_the_terms_of_its_loss():
    real, fake = torch.tensor([0.6, 0.4, 2.0, -1.0]), torch.tensor([0.45, 0.55, -3.0, 0.2])
    bce = statistics(NonSaturatingLoss(), real, fake)  # logits: threshold 0, sigmoid is a probability
    assert float(bce["2_discriminator/accuracy"]) == pytest.approx((0.75 + 1 - 0.75) / 2)
    assert float(bce["2_discriminator/D(x)"]) == pytest.approx(float(torch.sigmoid(real).mean()))
    lsgan = statistics(LeastSquaresLoss(), real, fake)  # targets 1 and 0: real above 0.5
    assert float(lsgan["3_confusion/true_positive"]) == 0.5 and float(lsgan["3_confusion/false_positive"]) == 0.25
    assert "2_discriminator/D(x)" not in lsgan and float(lsgan["2_discriminator/D_output(x)"]) == pytest.approx(0.5)
    hinge = statistics(HingeLoss(), real, fake)
    assert float(hinge["3_confusion/true_positive"]) == 0.75 and "2_discriminator/D(x)" not in hinge
    wgan = statistics(WassersteinGPLoss(), real, fake)  # a critic's scores decide nothing
    assert set(wgan) == {"2_discriminator/D_output(x)", "2_discriminator/D_output(G(z))"}
