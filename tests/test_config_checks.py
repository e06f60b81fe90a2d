"""Settings are checked before anything is built, each mistake named by the key the user typed."""

from __future__ import annotations

import pytest

from ganlab.errors import UserError
from ganlab.training import build
from helpers import assert_says


@pytest.mark.parametrize(("override", "phrases"), [
    ("model.optimizer_d.lr=abc", ("model.optimizer_d.lr='abc'", "give a number")),
    ("data.batch_size=2.5", ("data.batch_size=2.5", "give a whole number")),
    ("seed=abc", ("seed='abc'", "give a whole number or null")),
    ("trainer.max_steps=1.5", ("trainer.max_steps=1.5", "give a whole number")),
    ("data.sampling=foo", ("data.sampling='foo'", "give 'replacement' or 'shuffle'")),
    ("model.discriminator.spectral_norm=maybe", ("model.discriminator.spectral_norm='maybe'", "give true or false")),
    ("sample_interval=often", ("sample_interval='often'", "give a whole number")),
    ("model.optimizer_g.lr=-1", ("model.optimizer_g.lr=-1", "give a value above 0")),
    ("model.optimizer_d.betas=[0.5,1.5]", ("model.optimizer_d.betas=[0.5, 1.5]", "give two values in [0, 1)")),
    ("trainer.devices=0", ("trainer.devices=0", "give 1 or more devices")),
    ("data.batch_size=100000", ("data.batch_size=100000", "give 1 to 60,000 images")),
    ("checkpoint_interval=0", ("checkpoint_interval=0", "give 1 or more iterations", "callbacks.model_checkpoint=null")),
])
def test_a_value_of_the_wrong_type_is_refused_naming_its_key(make_train_cfg, override, phrases):
    """Each refusal by its key phrases: the key and value the user typed, and what to give instead."""
    with pytest.raises(UserError) as refused:
        build(make_train_cfg(override))
    message = str(refused.value)
    assert message.startswith(phrases[0]) and "\n" not in message, message
    assert_says(message, *phrases)


@pytest.mark.parametrize("override", ["trainer.precision=bf16-mixed", "model=cgan", "experiment=wgan_gp",
                                      "model.ema_decay=0.999", "model.optimizer_g.lr=1", "seed=null"])
def test_values_of_the_right_type_pass(make_train_cfg, override):
    build(make_train_cfg(override))
