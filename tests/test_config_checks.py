"""Settings are checked before the run begins, here or by the class they build, each mistake named by
the key the user typed."""

from __future__ import annotations

import pytest
from hydra.errors import InstantiationException
from hydra.utils import get_class

from ganlab.config_checks import MOVED
from ganlab.errors import UserError, user_error
from ganlab.training import build
from helpers import CONF_DIR, assert_says


@pytest.mark.parametrize(("override", "phrases"), [
    ("model.optimizer_d.lr=abc", ("model.optimizer_d.lr='abc'", "give a number")),
    ("data.batch_size=2.5", ("data.batch_size=2.5", "give a whole number")),
    ("seed=abc", ("seed='abc'", "give a whole number or null")),
    ("trainer.max_steps=1.5", ("trainer.max_steps=1.5", "give a whole number")),
    ("trainer.max_steps=0", ("trainer.max_steps=0", "give the number of training iterations")),
    ("data.sampling=foo", ("data.sampling='foo'", "give 'replacement' or 'shuffle'")),
    ("model.discriminator.spectral_norm=maybe", ("model.discriminator.spectral_norm='maybe'", "give true or false")),
    ("sample_interval=often", ("sample_interval='often'", "give a whole number")),
    ("model.optimizer_g.lr=-1", ("model.optimizer_g.lr=-1", "give a value above 0")),
    ("model.optimizer_d.betas=[0.5,1.5]", ("model.optimizer_d.betas=[0.5, 1.5]", "give two values in [0, 1)")),
    ("trainer.devices=0", ("trainer.devices=0", "give 1 or more devices")),
    ("data.batch_size=100000", ("data.batch_size=100000", "give 1 to 60,000 images")),
    ("checkpoint_interval=0", ("checkpoint_interval=0", "give 1 or more iterations", "callbacks.model_checkpoint=null")),
    ("sample_interval=-5", ("sample_interval=-5", "give 1 or more iterations", "callbacks.sample_grid=null")),
])
def test_a_value_of_the_wrong_type_is_refused_naming_its_key(make_train_cfg, override, phrases):
    """Each refusal by its key phrases: the key and value the user typed, and what to give instead.
    The project's own classes check their own ranges as they are built (Hydra wraps what they raise)."""
    with pytest.raises((UserError, InstantiationException)) as refused:
        build(make_train_cfg(override))
    message = str(user_error(refused.value))
    assert message.startswith(phrases[0]) and "\n" not in message, message
    assert_says(message, *phrases)


@pytest.mark.parametrize("override", ["trainer.precision=bf16-mixed", "model=cgan", "experiment=wgan_gp",
                                      "model.ema_decay=0.999", "model.optimizer_g.lr=1", "seed=null"])
def test_values_of_the_right_type_pass(make_train_cfg, override):
    build(make_train_cfg(override))


def test_an_interval_is_checked_by_its_callback_and_only_when_it_is_on(make_train_cfg):
    with pytest.raises(InstantiationException) as refused:
        build(make_train_cfg("eval_interval=0", quality=True))
    assert str(user_error(refused.value)) == ("eval_interval=0: give 1 or more iterations; to switch it off, "
                                              "callbacks.sample_quality=null")
    build(make_train_cfg("checkpoint_interval=0", "callbacks.model_checkpoint=null"))  # switched off: not used


@pytest.mark.parametrize(("override", "place"), [
    ("callbacks.model_checkpoint._target_=ganlab.safety.checkpoints.IterationCheckpoint",
     "callbacks.model_checkpoint._target_"),
    ("trainer.plugins=[{_target_:ganlab.safety.checkpoints.AtomicCheckpointIO}]", "trainer.plugins[0]._target_"),
])
def test_a_class_named_by_its_old_place_gets_its_new_name(make_train_cfg, override, place):
    with pytest.raises(UserError) as refused:
        build(make_train_cfg(override))
    new = MOVED[override.split("=", 1)[1].strip("[{}]").removeprefix("_target_:")]
    assert f"that class has moved; write {place}={new}" in str(refused.value)
    get_class(new)  # the new place is real


def test_paths_output_dir_set_apart_from_the_commands_run_folder_is_refused(make_train_cfg, tmp_path):
    """A command's run folder is Hydra's (hydra.run.dir); paths.output_dir set alone would leave the
    run's log and config in one folder and the rest in another, which looked like a run applied."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    cfg = make_train_cfg(output_dir=tmp_path / "elsewhere")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        command = compose(config_name="train", return_hydra_config=True)
    with open_dict(command):
        command.hydra.runtime.output_dir = str(tmp_path / "run")  # what Hydra sets as a command starts
    HydraConfig.instance().set_config(command)
    try:
        with pytest.raises(UserError) as refused:
            build(cfg)
        assert_says(str(refused.value), f"paths.output_dir={tmp_path / 'elsewhere'}",
                    f"hydra.run.dir={tmp_path / 'elsewhere'}", "paths.output_dir follows it")
        build(make_train_cfg(output_dir=tmp_path / "run"))  # the command's own folder: fine
    finally:
        HydraConfig.instance().cfg = None
