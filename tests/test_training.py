"""The training loop, run in-process on the real configs: counting, freezing, logging, resuming."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import sys

import lightning as L
import pytest
import torch
import yaml
from hydra.errors import InstantiationException
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from lightning.pytorch.plugins.precision import MixedPrecision
from lightning.pytorch.strategies import Strategy

from ganlab.errors import UserError
from ganlab.reporting.progress import IterationProgressBar, ProgressLines
from ganlab.reporting.tensorboard import read_scalars
from ganlab.reporting.training_curves import TrainingCurves
from ganlab.engine.engine import needs_lightning_path
from ganlab.training import build, strategy_for, train
from ganlab.trained_gan import load_gan
from helpers import (StepCounter, assert_same_state, assert_same_weights, assert_says, final_state, fit, image_steps,
                     scalars, with_mnist)


def test_max_steps_is_iterations(make_train_cfg, tmp_path):
    counter = StepCounter()
    _, trainer = fit(make_train_cfg("trainer.max_steps=7", "trainer.log_every_n_steps=2"), counter)
    assert (counter.batches, counter.g_steps, counter.d_steps) == (7, 7, 14)
    assert trainer.global_step == 7
    # every 2nd iteration, and the last one, which Lightning's own schedule would not write
    assert [step for step, _ in scalars(tmp_path, "1_losses/d_loss")] == [2, 4, 6, 7]
    assert [step for step, _ in scalars(tmp_path, "3_confusion/true_positive")] == [2, 4, 6, 7]


def test_joint_discriminator_update_is_one_step(make_train_cfg):
    counter = StepCounter()
    _, trainer = fit(make_train_cfg("trainer.max_steps=5", "model.d_update=joint"), counter)
    assert (counter.batches, counter.g_steps, counter.d_steps) == (5, 5, 5)
    assert trainer.global_step == 5


class GradientWatcher(L.Callback):
    """A callback that reads gradients, as gradient-norm loggers do: it needs Lightning's step hooks."""

    def on_train_start(self, trainer, pl_module):
        self.backward_calls = self.step_calls = 0

    def on_after_backward(self, trainer, pl_module):
        self.backward_calls += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.step_calls += 1


@pytest.fixture
def lightning_steps(monkeypatch):
    """Counts optimizer steps that go through Lightning's strategy (and so its hooks)."""
    calls = []
    original = Strategy.optimizer_step
    monkeypatch.setattr(Strategy, "optimizer_step", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


@pytest.mark.parametrize("d_update", ["separate", "joint"])
def test_direct_updates_train_exactly_like_lightnings(make_train_cfg, tmp_path, d_update, lightning_steps):
    """Without listeners, updates skip Lightning's no-op hook dispatch; with one, they go through
    Lightning. Both give the same weights, and the listener hears every update."""
    overrides = ("trainer.max_steps=6", f"model.d_update={d_update}")
    direct_model, direct_trainer = fit(make_train_cfg(*overrides, output_dir=tmp_path / "direct"))
    assert lightning_steps == []
    watcher = GradientWatcher()
    hooked_model, hooked_trainer = fit(make_train_cfg(*overrides, output_dir=tmp_path / "hooked"), watcher)
    updates = 6 * (3 if d_update == "separate" else 2)
    assert len(lightning_steps) == updates
    assert (watcher.backward_calls, watcher.step_calls) == (updates, updates)
    assert direct_trainer.global_step == hooked_trainer.global_step == 6
    assert_same_weights(direct_model, hooked_model)


def test_the_default_optimizer_is_torchs_fused_adam_with_keras_defaults(make_train_cfg):
    model, _ = fit(make_train_cfg("trainer.max_steps=2"))
    for optimizer in model.optimizers():
        assert type(optimizer.optimizer) is torch.optim.Adam
        (group,) = optimizer.optimizer.param_groups
        assert (group["lr"], group["betas"], group["eps"], group["fused"]) == (1e-3, (0.9, 0.999), 1e-7, True)


def test_a_checkpoint_naming_the_former_leanadam_opens_and_resumes_exactly(make_train_cfg, checkpoint, tmp_path):
    """Checkpoints written before 2026-12-02 name ganlab.engine.lean_adam.LeanAdam (torch's fused
    Adam step, bit-identical to torch.optim.Adam(fused=True)): they open, and resume without
    resume.allow_changes into the same run as a checkpoint naming torch's Adam."""
    old = torch.load(checkpoint, weights_only=True)
    for player in ("optimizer_g", "optimizer_d"):
        assert old["hyper_parameters"][player]["_target_"] == "torch.optim.Adam"
        old["hyper_parameters"][player]["_target_"] = "ganlab.engine.lean_adam.LeanAdam"
    (tmp_path / "old").mkdir()
    torch.save(old, tmp_path / "old" / "last.ckpt")
    assert type(load_gan(tmp_path / "old" / "last.ckpt")).__name__ == "GAN"
    fit(make_train_cfg(f"ckpt_path={tmp_path / 'old' / 'last.ckpt'}", "trainer.max_steps=8",
                       output_dir=tmp_path / "from_old"))
    fit(make_train_cfg(f"ckpt_path={checkpoint}", "trainer.max_steps=8", output_dir=tmp_path / "from_new"))
    assert_same_state(final_state(tmp_path / "from_old"), final_state(tmp_path / "from_new"))
    resumed = torch.load(tmp_path / "from_old" / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["hyper_parameters"]["optimizer_g"]["_target_"] == "torch.optim.Adam"


def test_lightnings_path_is_kept_where_it_does_more_than_dispatch(make_train_cfg):
    def needs(*overrides, precision_plugin=None):
        _, model, trainer = build(make_train_cfg(*overrides))
        if precision_plugin is not None:
            trainer.strategy.precision_plugin = precision_plugin
        return needs_lightning_path(trainer, model)

    assert not needs()
    assert not needs("trainer.precision=bf16-mixed")  # no grad scaler: backward is plain
    assert needs("trainer.strategy=ddp_find_unused_parameters_true")  # DDP reduces gradients in backward
    # fp16 (GPU only, hence set by hand): the grad scaler scales the loss and unscales the step
    fp16 = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    assert needs(precision_plugin=fp16)


class FreezeProbe(L.Callback):
    """Checks at every optimizer step that the other network neither moved nor collected gradients."""

    def on_train_start(self, trainer, pl_module):
        self.violations: list[str] = []
        self.d_updates = self.g_updates = 0
        self.G, self.D = pl_module.generator, pl_module.discriminator
        opt_g, opt_d = trainer.optimizers
        opt_d.register_step_pre_hook(lambda *_: self._before(self.G, "D"))
        opt_d.register_step_post_hook(lambda *_: self._after(self.D, "D"))
        opt_g.register_step_pre_hook(lambda *_: self._before(self.D, "G"))
        opt_g.register_step_post_hook(lambda *_: self._after(self.G, "G"))
        self.snapshot = {name: self._state(net) for name, net in (("G", self.G), ("D", self.D))}

    @staticmethod
    def _state(net):
        return [(p.detach().clone(), None if p.grad is None else p.grad.clone()) for p in net.parameters()]

    def _before(self, other, updating):
        other_name = "G" if updating == "D" else "D"
        if any(p.requires_grad for p in other.parameters()):
            self.violations.append(f"{other_name} trainable during {updating}'s update")
        for (p0, g0), p in zip(self.snapshot[other_name], other.parameters()):
            if not torch.equal(p0, p):
                self.violations.append(f"{other_name} moved during {updating}'s update")
            if (g0 is None) != (p.grad is None) or (g0 is not None and not torch.equal(g0, p.grad)):
                self.violations.append(f"{other_name} got gradients from {updating}'s loss")

    def _after(self, net, name):
        self.snapshot[name] = self._state(net)
        if name == "D":
            self.d_updates += 1
        else:
            self.g_updates += 1


@pytest.mark.parametrize("d_update", ["separate", "joint"])
def test_other_network_is_frozen_during_each_update(make_train_cfg, d_update):
    probe = FreezeProbe()
    fit(make_train_cfg("trainer.max_steps=4", f"model.d_update={d_update}"), probe)
    assert probe.g_updates == 4 and probe.d_updates == (8 if d_update == "separate" else 4)
    assert probe.violations == []


def test_logged_statistics_are_consistent(make_train_cfg, tmp_path):
    fit(make_train_cfg("trainer.max_steps=3", "trainer.log_every_n_steps=1"))
    tags = ["1_losses/d_loss", "1_losses/g_loss", "2_discriminator/accuracy", "2_discriminator/D(x)",
            "2_discriminator/D(G(z))"]
    tags += [f"3_confusion/{k}" for k in ("true_positive", "false_negative", "true_negative", "false_positive")]
    values = {tag: dict(scalars(tmp_path, tag)) for tag in tags}
    assert all(sorted(v) == [1, 2, 3] for v in values.values())
    for step in (1, 2, 3):
        v = {tag: values[tag][step] for tag in tags}
        assert v["3_confusion/true_positive"] + v["3_confusion/false_negative"] == pytest.approx(1)
        assert v["3_confusion/true_negative"] + v["3_confusion/false_positive"] == pytest.approx(1)
        expected = (v["3_confusion/true_positive"] + v["3_confusion/true_negative"]) / 2
        assert v["2_discriminator/accuracy"] == pytest.approx(expected)
        assert 0 < v["2_discriminator/D(x)"] < 1 and 0 < v["2_discriminator/D(G(z))"] < 1
        assert v["1_losses/d_loss"] > 0 and v["1_losses/g_loss"] > 0


def test_a_run_with_one_grid_still_gets_its_gif(make_train_cfg, tmp_path):
    train(make_train_cfg("trainer.max_steps=3", "sample_interval=1000"))
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["iter_000003.png", "training.gif"]


def test_a_damaged_earlier_grid_is_left_out_of_the_gif_saying_so(make_train_cfg, tmp_path, caplog):
    """A resumed run's GIF takes the earlier grids from the folder: one a kill left empty must not end the run."""
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "iter_000001.png").write_bytes(b"")
    (tmp_path / "samples" / "iter_000002.png").write_bytes(b"\x89PNG\r\n\x1a\n half a picture")
    train(make_train_cfg("trainer.max_steps=3", "sample_interval=1000"))
    from PIL import Image

    with Image.open(tmp_path / "samples" / "training.gif") as gif:
        assert gif.n_frames == 1, "only the run's own readable grid"
    assert_says(caplog.text, "The GIF leaves out", "iter_000001.png", "not a readable picture")
    assert "iter_000002.png" in caplog.text


def test_the_gif_takes_the_grids_by_iteration_and_names_a_stray_file_for_what_it_is(tmp_path, caplog):
    from PIL import Image

    from ganlab.reporting.pictures import animate

    for name, shade in [("iter_999999.png", 0), ("iter_1000000.png", 255), ("iter_000003 copy.png", 128)]:
        Image.new("L", (8, 8), shade).save(tmp_path / name)
    gif = animate(sorted(tmp_path.glob("iter_*.png")), tmp_path / "training.gif")
    with Image.open(gif) as frames:
        assert frames.n_frames == 2, "the copy is not a frame"
        first = frames.convert("L").getpixel((frames.width - 1, frames.height - 1))
    assert first < 128, "iteration 999999 comes before 1000000, though its name sorts after"
    assert_says(caplog.text, "iter_000003 copy.png", "not one of the run's grids")
    assert "not a readable picture" not in caplog.text


def test_run_leaves_checkpoints_samples_curves_and_hparams(make_train_cfg, tmp_path):
    train(make_train_cfg("trainer.max_steps=7"))
    ckpts = {p.name: torch.load(p, weights_only=True)["global_step"] for p in (tmp_path / "checkpoints").iterdir()}
    assert ckpts == {"iter_000005.ckpt": 5, "last.ckpt": 7}
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "iter_000005.png", "iter_000007.png", "training.gif"]
    from PIL import Image

    grid = Image.open(tmp_path / "samples" / "iter_000007.png")
    assert grid.size == (5 * 122, 5 * 122), "4 x 4 digits of 28 px and their padding (122 px), shown 5x"
    with Image.open(tmp_path / "samples" / "training.gif") as gif:
        assert gif.n_frames == 2 and gif.width == grid.width and gif.height > grid.height, "a caption strip on top"
    assert image_steps(tmp_path, "samples") == [5, 7]
    assert (tmp_path / "training_curves.png").stat().st_size > 10_000
    (final,) = scalars(tmp_path, "final/d_loss")
    assert final[0] == 7 and final[1] > 0, "one point, at the end: no placeholder"
    hparams = yaml.safe_load((tmp_path / "hparams.yaml").read_text())
    assert hparams["data"]["batch_size"] == 128 and hparams["trainer"]["max_steps"] == 7
    assert hparams["model"]["optimizer_g"] == {
        "_target_": "torch.optim.Adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-07, "fused": True
    }
    assert "callbacks" not in hparams and "paths" not in hparams


def test_sample_quality_is_logged_returned_and_summarised(make_train_cfg, tmp_path, quick_evaluator_dir, caplog):
    cfg = make_train_cfg(
        "trainer.max_steps=4", "eval_interval=3", f"paths.data_dir={quick_evaluator_dir}",
        "callbacks.sample_quality.num_samples=500", "+callbacks.sample_quality.min_evaluator_accuracy=0.9",
        quality=True,
    )
    with caplog.at_level(logging.INFO, logger="ganlab"):
        metrics = train(cfg)
    assert "Loading the MNIST evaluator" in caplog.text and "iteration 3: scoring 500 samples" in caplog.text
    # the summary: each score beside what real images score, and which way is better
    floor = json.loads((quick_evaluator_dir / "evaluator" / "real_floor_500.json").read_text())["metrics"]
    assert re.search(rf"  FID +{metrics['4_quality/fid']:.4g} \[{floor['fid']:.4g}\]  \(lower is better\)", caplog.text)
    assert re.search(r"  recall +[0-9.e-]+ \[[0-9.]+\]  \(higher is better\)", caplog.text)
    assert [step for step, _ in scalars(tmp_path, "4_quality/fid")] == [3, 4]
    for tag in ("4_quality/classifier_score", "4_quality/precision", "4_quality/recall", "5_digits/min_class_share",
                "5_digits/class_kl", "5_digits/class_share_7", "6_time/evaluation_seconds"):
        assert len(scalars(tmp_path, tag)) == 2
    assert metrics["4_quality/fid"] == pytest.approx(scalars(tmp_path, "4_quality/fid")[-1][1])
    assert metrics["4_quality/fid"] > 0
    assert scalars(tmp_path, "final/fid") == [(4, pytest.approx(metrics["4_quality/fid"]))]


def test_every_chart_has_a_description_and_the_game_comes_first(make_train_cfg, tmp_path, quick_evaluator_dir):
    """TensorBoard sorts chart groups by name and shows each tag's first description on its chart."""
    train(make_train_cfg("trainer.max_steps=2", "eval_interval=2", f"paths.data_dir={quick_evaluator_dir}",
                         "callbacks.sample_quality.num_samples=200", "+callbacks.sample_quality.min_evaluator_accuracy=0.9",
                         quality=True))
    acc = EventAccumulator(str(tmp_path))  # as TensorBoard reads a run: every value a tensor, metadata first seen
    acc.Reload()
    logged = list(read_scalars(tmp_path))
    assert len(logged) > 30
    undescribed = [tag for tag in logged if not acc.SummaryMetadata(tag).summary_description]
    assert undescribed == []
    assert acc.SummaryMetadata("4_quality/fid").summary_description.startswith("Lower is better.")
    groups = list(dict.fromkeys(tag.split("/")[0] for tag in sorted(logged)))
    assert groups == ["1_losses", "2_discriminator", "3_confusion", "4_quality", "5_digits", "6_time", "final"]


def test_same_seed_repeats_exactly_and_another_differs(make_train_cfg, tmp_path):
    def losses(seed, name):
        out = tmp_path / name
        train(make_train_cfg("trainer.max_steps=20", "trainer.log_every_n_steps=1", f"seed={seed}", output_dir=out))
        return [v for _, v in scalars(out, "1_losses/d_loss")], [v for _, v in scalars(out, "1_losses/g_loss")]

    first, again, other = losses(1, "a"), losses(1, "b"), losses(2, "c")
    assert first == again
    assert first != other


def test_seed_null_draws_a_fresh_seed_and_logs_it_so_the_run_repeats(make_train_cfg, tmp_path, caplog):
    def run(seed, name):
        out = tmp_path / name
        train(make_train_cfg("trainer.max_steps=6", "trainer.log_every_n_steps=1", f"seed={seed}", output_dir=out))
        return [v for _, v in scalars(out, "1_losses/d_loss")]

    with caplog.at_level(logging.INFO, logger="ganlab"):
        drawn = run("null", "a"), run("null", "b")
    seeds = [int(m) for m in re.findall(r"seed=null: this run drew seed (\d+) \(seed=\1 repeats it\)", caplog.text)]
    assert len(seeds) == 2 and seeds[0] != seeds[1] and drawn[0] != drawn[1]
    assert run(seeds[0], "c") == drawn[0]


@pytest.mark.parametrize(
    ("override", "error", "match"),
    [
        ("trainer.max_steps=-1", ValueError, "trainer.max_steps"),
        ("ckpt_path=/no/such/last.ckpt", UserError, "ckpt_path=/no/such/last.ckpt is not a file"),
        ("model.d_update=both", ValueError, "model.d_update"),
        ("sample_interval=0", ValueError, "sample_interval"),
    ],
)
def test_bad_settings_fail_early_with_a_clear_message(make_train_cfg, override, error, match):
    # Hydra wraps errors raised while building a part; the message stays in what the user sees
    with pytest.raises((error, InstantiationException), match=match):
        build(make_train_cfg(override))


class DeviceReadCounter(L.Callback):
    """Counts reads of tensor values into Python (a GPU stall each) between two iterations."""

    def __init__(self, start: int, stop: int):
        self.start, self.stop, self.reads = start, stop, []
        self._saved = {}

    def on_train_batch_start(self, trainer, *_):
        if trainer.global_step == self.start:
            for name in ("item", "__float__", "__int__", "__bool__", "tolist"):
                original = self._saved[name] = getattr(torch.Tensor, name)
                setattr(torch.Tensor, name, self._counting(original, name))
        if trainer.global_step == self.stop:
            self.restore()

    def restore(self):
        for name, original in self._saved.items():
            setattr(torch.Tensor, name, original)
        self._saved = {}

    def _counting(self, original, name):
        import traceback

        def read(tensor, *args, **kwargs):
            stack = traceback.extract_stack(limit=12)
            # torch's optimizers read their CPU step counters: not a device read (on a GPU they
            # stay on the CPU); torch's moving average reads its counter where the model is
            optimizer = any("torch/optim" in f.filename and "swa_utils" not in f.filename for f in stack)
            if not tensor.is_cpu or not optimizer:
                self.reads.append(" < ".join(f"{f.filename.split('/')[-1]}:{f.lineno}" for f in stack[-2:-9:-1]))
            return original(tensor, *args, **kwargs)

        return read


@pytest.mark.parametrize("extra", [[], ["model.ema_decay=0.999"]], ids=["plain", "ema"])
def test_no_values_are_read_back_between_log_iterations(make_train_cfg, extra):
    counter = DeviceReadCounter(start=1, stop=49)
    try:
        fit(make_train_cfg("trainer.max_steps=50", "trainer.log_every_n_steps=50", "sample_interval=1000",
                "checkpoint_interval=1000", *extra), counter)
    finally:
        counter.restore()
    assert counter.reads == []


def test_bf16_mixed_precision_trains(make_train_cfg, tmp_path):
    """The mixed-precision path a GPU run uses (bf16 autocast) also runs on the CPU."""
    fit(make_train_cfg("trainer.max_steps=3", "trainer.log_every_n_steps=1", "trainer.precision=bf16-mixed"))
    losses = [v for _, v in scalars(tmp_path, "1_losses/d_loss")]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)


class ForwardRecorder(L.Callback):
    """Records every forward pass of D: its weights at that moment, its input and its output."""

    def on_train_start(self, trainer, pl_module):
        self.calls = []

        def record(module, inputs, output):
            weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
            self.calls.append((weights, inputs[0].detach().clone(), output.detach().clone()))

        self.handle = pl_module.discriminator.register_forward_hook(record)

    def on_train_end(self, trainer, pl_module):
        self.handle.remove()


@pytest.mark.parametrize("d_update", ["separate", "joint"])
def test_mixed_precision_forwards_use_the_current_weights(make_train_cfg, d_update):
    """Under bf16 autocast each of D's forward passes must see D's weights as they are then, not
    a low-precision copy cached before an earlier update of the same iteration. Autocast's cache
    would do that, since the whole training_step runs in one autocast context; Lightning's
    precision plugin turns the cache off, and this pins it."""
    recorder = ForwardRecorder()
    model, _ = fit(make_train_cfg("trainer.max_steps=2", "trainer.precision=bf16-mixed", f"model.d_update={d_update}",
                   "model.d_steps_per_iteration=2"), recorder)
    assert len(recorder.calls) == 2 * 5  # per iteration: 2 critic steps of 2 forwards each, then G's
    D = model.discriminator
    for i, (weights, x, output) in enumerate(recorder.calls):
        D.load_state_dict(weights)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
            assert torch.equal(D(x), output), f"forward {i} ran on other weights than D had"


@pytest.mark.slow
def test_compiled_nets_train_and_checkpoint_like_eager_ones(make_train_cfg, tmp_path):
    model, trainer = fit(make_train_cfg("trainer.max_steps=3", "model.acceleration=compile"))
    assert trainer.global_step == 3
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert "generator.net.0.weight" in state, "compiling must not rename the checkpoint's keys"


def test_cuda_graph_off_the_gpu_warns_and_trains_eagerly(make_train_cfg, tmp_path):
    eager, _ = fit(make_train_cfg("trainer.max_steps=4", output_dir=tmp_path / "eager"))
    with pytest.warns(UserWarning, match="acceleration=cuda_graph is ignored: training runs on cpu"):
        asked, trainer = fit(make_train_cfg("trainer.max_steps=4", "model.acceleration=cuda_graph",
                                            output_dir=tmp_path / "asked"))
    assert trainer.global_step == 4
    assert_same_weights(eager, asked)


def test_an_unknown_acceleration_is_refused(make_train_cfg):
    with pytest.raises((ValueError, InstantiationException), match="model.acceleration='fast': use one of eager, "
                       "compile, cuda_graph"):
        build(make_train_cfg("model.acceleration=fast"))


def test_logging_every_zero_iterations_is_refused(make_train_cfg):
    with pytest.raises(ValueError, match="trainer.log_every_n_steps=0: log every 1 or more iterations"):
        build(make_train_cfg("trainer.log_every_n_steps=0"))


def test_plain_ddp_is_refused_with_the_strategy_that_works(make_train_cfg):
    with pytest.raises(ValueError, match="trainer.strategy=ddp stops at the first update.*"
                       "trainer.strategy=ddp_find_unused_parameters_true, or simply trainer.devices=N"):
        build(make_train_cfg("trainer.strategy=ddp"))


def test_several_devices_get_ddp_that_allows_unused_weights(make_train_cfg):
    def strategy(*overrides):
        return strategy_for(make_train_cfg(*overrides).trainer)

    assert strategy("trainer.devices=2") == "ddp_find_unused_parameters_true"
    assert strategy("trainer.devices=[0,1]") == "ddp_find_unused_parameters_true"
    assert strategy("trainer.num_nodes=2") == "ddp_find_unused_parameters_true"
    assert strategy("trainer.accelerator=cpu", "trainer.devices=auto") == "auto"
    assert strategy() == "auto"


def test_the_models_shared_config_is_not_offered_as_a_model(make_train_cfg):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException) as refused:
        make_train_cfg("model=_model_shared")
    assert refused.value.options == ["cgan", "dcgan", "mlp"]


@pytest.mark.parametrize(("logger", "files"), [("csv", {"csv/version_0/metrics.csv", "csv/version_0/hparams.yaml"}),
                                               ("none", set()),
                                               ("many", {"csv/version_0/metrics.csv", "csv/version_0/hparams.yaml",
                                                         "hparams.yaml", "events"})])
def test_each_logger_choice_trains(make_train_cfg, tmp_path, logger, files):
    train(make_train_cfg(f"logger={logger}", "trainer.max_steps=3", "trainer.log_every_n_steps=1"))
    written = {p.relative_to(tmp_path).as_posix().split(".out.")[0] for p in tmp_path.rglob("*")
               if p.is_file() and p.parent.name not in {"checkpoints", "samples", ".hydra"}} - {"training_curves.png"}
    assert written == files
    if any(name.endswith("metrics.csv") for name in files):
        rows = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()
        assert "1_losses/d_loss" in rows[0].split(",") and len(rows) >= 4
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file() and (tmp_path / "samples").is_dir()


def test_a_resumed_csv_run_keeps_its_earlier_rows(make_train_cfg, tmp_path, recwarn):
    """Lightning's CSVLogger deletes a metrics.csv it finds in its folder: a resume must not lose the rows."""
    train(make_train_cfg("logger=csv", "trainer.max_steps=4", "trainer.log_every_n_steps=1"))
    train(make_train_cfg("logger=csv", "trainer.max_steps=8", "trainer.log_every_n_steps=1",
                         f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}"))
    files = sorted(tmp_path.rglob("metrics.csv"))
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["csv/version_0/metrics.csv", "csv/version_1/metrics.csv"]
    steps = [int(row["step"]) for f in files
             for row in csv.DictReader(f.read_text().splitlines()) if row["1_losses/d_loss"]]
    assert sorted(steps) == list(range(1, 9)), "each iteration's row, before the resume and after"
    assert not [w for w in recwarn if "will be deleted" in str(w.message)]


def test_overfit_batches_is_refused_not_ignored(make_train_cfg):
    with pytest.raises(ValueError, match=r"trainer.overfit_batches=1 does not apply here: every iteration draws"):
        build(make_train_cfg("+trainer.overfit_batches=1"))


@pytest.mark.parametrize("logger", ["mlflow", "wandb"])
def test_mlflow_and_wandb_log_offline_with_their_sample_grids(make_train_cfg, tmp_path, logger):
    pytest.importorskip({"mlflow": "mlflow", "wandb": "wandb"}[logger],
                        reason=f"logger={logger} needs the optional loggers: pip install -e '.[loggers]'")
    train(make_train_cfg(f"logger={logger}", "trainer.max_steps=3", "trainer.log_every_n_steps=1",
                         "sample_interval=3"))
    if logger == "mlflow":
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
        (run,) = client.search_runs([client.get_experiment_by_name("ganlab").experiment_id])
        assert [m.step for m in client.get_metric_history(run.info.run_id, "1_losses/d_loss")] == [1, 2, 3]
        assert list((tmp_path / "mlartifacts").rglob("samples*.png")), "the sample grid"
    else:
        (run,) = (tmp_path / "wandb").glob("offline-run-*")
        assert list(run.glob("files/media/images/samples_*.png")), "the sample grid"
        assert list(run.glob("run-*.wandb")), "the offline run, ready for `wandb sync`"


def test_a_bar_in_a_terminal_lines_in_a_file_or_when_the_bar_is_off(make_train_cfg, monkeypatch):
    def progress(terminal, *overrides):
        monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
        _, _, trainer = build(make_train_cfg(*overrides))
        shown = [c for c in trainer.callbacks if isinstance(c, (L.pytorch.callbacks.ProgressBar, ProgressLines))]
        assert len(shown) == 1 and (trainer.progress_bar_callback is None) == isinstance(shown[0], ProgressLines)
        return type(shown[0])

    assert progress(True) is IterationProgressBar
    assert progress(True, "trainer.enable_progress_bar=false") is ProgressLines
    assert progress(False) is ProgressLines


def test_progress_lines_come_every_tenth_of_the_run_each_on_its_own_line(make_train_cfg, caplog):
    with caplog.at_level(logging.INFO, logger="ganlab"):
        train(make_train_cfg("trainer.max_steps=40", "trainer.log_every_n_steps=2"))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("iteration ")]
    assert [int(line.split()[1].split("/")[0]) for line in lines] == list(range(4, 41, 4))
    assert re.fullmatch(r"iteration 20/40 \(50%\): d_loss [0-9.e-]+, g_loss [0-9.e-]+, [0-9.]+ it/s, "
                        r"([0-9]+ min )?[0-9]+ s left", lines[4]), lines[4]


@pytest.mark.slow  # trains the real evaluator: about half a minute
def test_the_first_run_of_a_checkout_repeats_like_every_later_one(make_train_cfg, tmp_path, mnist_dir):
    """The run that finds no cached evaluator trains it in another process: its own stays as a run's
    with a cached evaluator, so the same seed gives the same run (it did not when trained in-process)."""
    data_dir = with_mnist(tmp_path / "data", mnist_dir)

    def run(name):
        return train(make_train_cfg("trainer.max_steps=300", "eval_interval=300", f"paths.data_dir={data_dir}",
                                    "callbacks.sample_quality.num_samples=2000", quality=True,
                                    output_dir=tmp_path / name))

    first, later = run("first"), run("later")
    assert (data_dir / "evaluator").is_dir()
    assert first["1_losses/d_loss"] == later["1_losses/d_loss"] and first["4_quality/fid"] == later["4_quality/fid"]


def test_in_a_terminal_log_lines_are_written_above_the_bar_not_glued_to_it(monkeypatch):
    import contextlib

    from tqdm import tqdm

    from ganlab.reporting.progress import log_above

    def console_with_bar(above: bool) -> list[str]:
        stream = io.StringIO()
        monkeypatch.setattr(sys, "stderr", stream)  # the console: what Hydra's handler writes to
        handler = logging.StreamHandler(sys.stderr)
        logging.getLogger().addHandler(handler)
        try:
            bar = tqdm(total=10, file=stream, desc="Training", ascii=True)
            with log_above(bar) if above else contextlib.nullcontext():
                bar.update(5)
                logging.getLogger("ganlab").warning("iteration 5: FID 43.711")
                bar.update(5)
            bar.close()
        finally:
            logging.getLogger().removeHandler(handler)
        return stream.getvalue().splitlines()

    assert "iteration 5: FID 43.711" in console_with_bar(above=True)
    assert "iteration 5: FID 43.711" not in console_with_bar(above=False), "without it the line is glued to the bar"


def test_a_checkpoint_from_before_the_numbered_tags_resumes_its_curves():
    curves = TrainingCurves("unused.png")
    for old in ({"iteration": [50], "d_loss": [0.7], "g_loss": [0.8], "d_accuracy": [0.5]},
                {"iteration": [50], "train/d_loss": [0.7], "train/g_loss": [0.8], "train/d_accuracy": [0.5]}):
        curves.load_state_dict({"history": old})
        assert curves.history == {"iteration": [50], "1_losses/d_loss": [0.7], "1_losses/g_loss": [0.8],
                                  "2_discriminator/accuracy": [0.5]}
