"""A resume continues the same experiment, exactly: changed settings are refused, or applied when asked."""

from __future__ import annotations

import logging

import pytest
import torch
from hydra.errors import InstantiationException

from ganlab.errors import UserError
from ganlab.divergence import Diverged
from ganlab.checkpoints.resume import resolve_ckpt_path
from ganlab.training import build
from helpers import StepCounter, assert_says, fit, scalars


def test_a_changed_learning_rate_is_refused_with_both_values(make_train_cfg, checkpoint):
    with pytest.raises(ValueError) as error:
        build(make_train_cfg(f"ckpt_path={checkpoint}", "model.optimizer_g.lr=5e-4", "data.batch_size=64"))
    message = str(error.value)
    assert "a resume continues the same experiment" in message
    assert "  model.optimizer_g.lr: 0.001 -> 0.0005\n" in message and "  data.batch_size: 128 -> 64\n" in message
    assert "add resume.allow_changes=true" in message


def test_allowed_changes_are_applied(make_train_cfg, checkpoint, tmp_path):
    model, trainer = fit(make_train_cfg(f"ckpt_path={checkpoint}", "model.optimizer_g.lr=5e-4", "data.batch_size=64",
                                        "resume.allow_changes=true", "trainer.max_steps=7"))
    opt_g, opt_d = trainer.optimizers
    assert [g["lr"] for g in opt_g.param_groups] == [5e-4] and [g["lr"] for g in opt_d.param_groups] == [1e-3]
    assert int(next(iter(opt_g.state.values()))["step"]) == 7, "Adam's state still comes from the checkpoint"
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["hyper_parameters"]["optimizer_g"]["lr"] == 5e-4
    assert saved["datamodule_hyper_parameters"]["batch_size"] == 64

    unchanged, _ = fit(make_train_cfg(f"ckpt_path={checkpoint}", "trainer.max_steps=7", "data.batch_size=64",
                                      "resume.allow_changes=true", output_dir=tmp_path / "unchanged"))
    changed_g, same_g = model.generator.state_dict(), unchanged.generator.state_dict()
    assert any(not torch.equal(changed_g[k], same_g[k]) for k in changed_g), "the new lr must change the updates"


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.generator.hidden=64", "model.generator.hidden: 128 -> 64"),
        ("model=dcgan", "model.generator._target_: 'ganlab.models.nets.mlp.MLPGenerator' -> "
                        "'ganlab.models.nets.dcgan.DCGANGenerator'"),
        ("seed=7", "seed: 42 -> 7"),
        ("model.ema_decay=0.99", "model.ema_decay: None -> 0.99"),
        ("model.optimizer_d.fused=false", "model.optimizer_d.fused: True -> False"),
    ],
)
def test_what_cannot_carry_over_is_refused_even_when_changes_are_allowed(make_train_cfg, checkpoint, override, key):
    with pytest.raises((ValueError, InstantiationException), match="cannot be resumed with these settings") as error:
        build(make_train_cfg(f"ckpt_path={checkpoint}", override, "resume.allow_changes=true"))
    assert f"  {key}\n" in str(error.value)


def test_fewer_iterations_than_the_checkpoint_has_is_an_error(make_train_cfg, checkpoint):
    with pytest.raises(ValueError, match="trainer.max_steps=3 is below the 5 iterations .* give a larger"):
        build(make_train_cfg(f"ckpt_path={checkpoint}", "trainer.max_steps=3"))


@pytest.mark.slow  # torch.compile on the CPU: about 20 s
def test_how_a_run_executes_may_change(make_train_cfg, checkpoint):
    _, trainer = fit(make_train_cfg(f"ckpt_path={checkpoint}", "model.acceleration=compile", "trainer.max_steps=7"))
    assert trainer.global_step == 7


def test_a_file_that_is_not_a_checkpoint_is_refused(make_train_cfg, tmp_path):
    path = tmp_path / "random.ckpt"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(ValueError, match="random.ckpt is not a checkpoint this project can read"):
        build(make_train_cfg(f"ckpt_path={path}"))


def written_before(checkpoint, tmp_path, *keys):
    """A copy of ``checkpoint`` as a version of the project without the settings ``keys`` wrote it."""
    ckpt = torch.load(checkpoint, weights_only=True)
    for key in keys:
        *parents, last = key.split(".")
        section = ckpt["hyper_parameters"]
        for parent in parents:
            section = section[parent]
        del section[last]
    path = tmp_path / "older.ckpt"
    torch.save(ckpt, path)
    return path


def test_a_setting_added_since_the_checkpoint_is_compared_with_its_default(make_train_cfg, checkpoint, tmp_path):
    older = written_before(checkpoint, tmp_path, "augment", "discriminator.negative_slope")
    build(make_train_cfg(f"ckpt_path={older}"))  # the defaults are what that run trained with: accepted
    with pytest.raises(ValueError, match="a resume continues the same experiment") as error:
        build(make_train_cfg(f"ckpt_path={older}", "model.augment=[translation]"))
    assert "  model.augment: None -> ['translation']\n" in str(error.value)
    with pytest.raises(ValueError, match="cannot be resumed with these settings") as error:
        build(make_train_cfg(f"ckpt_path={older}", "model.discriminator.negative_slope=0.2",
                             "resume.allow_changes=true"))
    assert "  model.discriminator.negative_slope: 0.01 -> 0.2\n" in str(error.value)


def test_resume_continues_exactly_where_the_checkpoint_left_off(make_train_cfg, tmp_path):
    first = tmp_path / "first"
    fit(make_train_cfg("trainer.max_steps=10", "trainer.log_every_n_steps=1", output_dir=first))
    ckpt = first / "checkpoints" / "iter_000005.ckpt"

    resumed = tmp_path / "resumed"
    counter = StepCounter()
    model, trainer = fit(
        make_train_cfg("trainer.max_steps=10", "trainer.log_every_n_steps=1", f"ckpt_path={ckpt}", output_dir=resumed),
        counter,
    )
    assert counter.batches == 5 and trainer.global_step == 10
    resumed_losses = scalars(resumed, "1_losses/d_loss")
    assert [step for step, _ in resumed_losses] == [6, 7, 8, 9, 10]
    # same data batches, same noise, same Adam state: the resumed run repeats the uninterrupted one
    assert resumed_losses == scalars(first, "1_losses/d_loss")[5:]
    opt_g, opt_d = trainer.optimizers
    adam_steps = [float(s["step"]) for opt in (opt_g, opt_d) for s in list(opt.state.values())[:1]]
    assert adam_steps == [10.0, 20.0], "Adam's state (and its step count) must come from the checkpoint"


def damage(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # what a kill mid-write would leave


def ten_iterations(make_train_cfg, folder):
    fit(make_train_cfg("trainer.max_steps=10", output_dir=folder))
    return folder / "checkpoints"


def test_auto_resume_skips_a_damaged_last_checkpoint_saying_which_it_uses(make_train_cfg, tmp_path, caplog):
    checkpoints = ten_iterations(make_train_cfg, tmp_path)
    damage(checkpoints / "last.ckpt")
    cfg = make_train_cfg("trainer.max_steps=12")
    with caplog.at_level(logging.WARNING):
        resolve_ckpt_path(cfg)
    assert cfg.ckpt_path == str(checkpoints / "iter_000010.ckpt")
    assert f"{checkpoints / 'last.ckpt'} is not a checkpoint this project can read" in caplog.text
    assert "Resuming from iter_000010.ckpt (iteration 10) instead of the damaged last.ckpt" in caplog.text


def test_auto_resume_without_last_checkpoint_takes_the_newest_iteration(make_train_cfg, tmp_path):
    checkpoints = ten_iterations(make_train_cfg, tmp_path)
    (checkpoints / "last.ckpt").unlink()  # a full disk before it was first written
    _, trainer = fit(make_train_cfg("trainer.max_steps=12"))
    assert trainer.global_step == 12 and trainer.ckpt_path == str(checkpoints / "iter_000010.ckpt")


def test_every_checkpoint_damaged_is_an_error_never_a_fresh_start(make_train_cfg, tmp_path):
    checkpoints = ten_iterations(make_train_cfg, tmp_path)
    for path in checkpoints.iterdir():
        damage(path)
    with pytest.raises(UserError, match=f"every checkpoint in {checkpoints} is damaged .*move them out"):
        resolve_ckpt_path(make_train_cfg())
    with pytest.raises(UserError, match="already holds checkpoints of a run, which a fresh start would overwrite"):
        resolve_ckpt_path(make_train_cfg("ckpt_path=null"))


def test_a_damaged_checkpoint_given_by_name_names_the_intact_ones_beside_it(make_train_cfg, tmp_path):
    checkpoints = ten_iterations(make_train_cfg, tmp_path / "first")
    damage(checkpoints / "last.ckpt")
    with pytest.raises(UserError) as refused:
        build(make_train_cfg(f"ckpt_path={checkpoints / 'last.ckpt'}", "trainer.max_steps=12"))
    assert_says(str(refused.value), "Intact checkpoints beside it", f"{checkpoints / 'iter_000010.ckpt'}, "
                f"{checkpoints / 'iter_000005.ckpt'}")


def test_a_checkpoint_with_non_finite_weights_is_refused_before_training(make_train_cfg, checkpoint, tmp_path):
    state = torch.load(checkpoint, weights_only=True)
    state["state_dict"]["generator.net.0.weight"][0, 0] = float("nan")
    diverged = tmp_path / "checkpoints" / "diverged.ckpt"
    diverged.parent.mkdir()
    torch.save(state, diverged)
    with pytest.raises(UserError) as refused:
        build(make_train_cfg(f"ckpt_path={diverged}", output_dir=tmp_path / "other"))
    assert_says(str(refused.value), "holds non-finite weights (generator.net.0.weight)", "its training diverged")


def test_divergence_after_a_resume_names_the_checkpoint_it_resumed_from(make_train_cfg, checkpoint, tmp_path):
    cfg = make_train_cfg(f"ckpt_path={checkpoint}", "model.optimizer_d.lr=1e30", "model.optimizer_g.lr=1e30",
                         "resume.allow_changes=true", "trainer.max_steps=60", "trainer.log_every_n_steps=1",
                         "checkpoint_interval=1000", output_dir=tmp_path / "resumed")
    with pytest.raises(Diverged, match=f"The last good checkpoint is {checkpoint}"):
        fit(cfg)
