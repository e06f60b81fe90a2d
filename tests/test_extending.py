"""Extending: a new net or loss is one Python file plus one config (README, "Extending"). Here both
live outside the project, in a temporary folder, so nothing but configuration connects them."""

from __future__ import annotations

import textwrap

import pytest
import torch

from ganlab.errors import UserError
from ganlab.trained_gan import load_gan
from ganlab.training import train
from helpers import tiny_run

TINY_NETS = '''
import torch
from torch import nn

from ganlab.models.losses import GANLoss


class TinyGenerator(nn.Module):
    def __init__(self, z_dim: int = 8):
        super().__init__()
        self.z_dim = z_dim  # the module draws z of this size
        self.net = nn.Sequential(nn.Linear(z_dim, 28 * 28), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))

    def forward(self, z):
        return self.net(z)  # images [B, 1, 28, 28] in [-1, 1]


class TinyDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 1))

    def forward(self, images):
        return self.net(images).squeeze(1)  # one logit per image


class SquaredLoss(GANLoss):
    def real(self, logits):
        return ((logits - 1) ** 2).mean()

    def fake(self, logits):
        return (logits**2).mean()

    def generator(self, logits):
        return ((logits - 1) ** 2).mean()
'''

TINY_MODEL = """
defaults:
  - /_model_shared@_here_
  - _self_
generator:
  _target_: tiny_nets.TinyGenerator
  z_dim: 8
discriminator:
  _target_: tiny_nets.TinyDiscriminator
"""

SQUARED_LOSS = """
# @package _global_
model:
  loss:
    _target_: tiny_nets.SquaredLoss
"""


def test_a_net_and_a_loss_given_only_through_config_train_and_sample(tmp_path, mnist_dir, monkeypatch):
    code, conf = tmp_path / "code", tmp_path / "my_conf"
    for path, text in ((code / "tiny_nets.py", TINY_NETS), (conf / "model" / "tiny.yaml", TINY_MODEL),
                       (conf / "loss" / "squared.yaml", SQUARED_LOSS)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(code))
    run = tmp_path / "run"
    cfg = tiny_run(run, mnist_dir, f"hydra.searchpath=[file://{conf}]", "model=tiny", "loss=squared",
                   "trainer.max_steps=4", "checkpoint_interval=4", "sample_interval=4")
    metrics = train(cfg)

    assert {"1_losses/d_loss", "1_losses/g_loss"} <= set(metrics)
    assert (run / "samples" / "iter_000004.png").is_file()
    last = run / "checkpoints" / "last.ckpt"
    # a checkpoint is data: classes of the user's own are built only when the user names them
    with pytest.raises(UserError, match=r"names 'tiny_nets.TinyGenerator' at generator._target_.*allow_targets="):
        load_gan(last)
    model = load_gan(last, allow_targets=["tiny_nets.TinyGenerator", "tiny_nets.TinyDiscriminator",
                                          "tiny_nets.SquaredLoss"])  # the checkpoint alone rebuilds the toy nets
    assert type(model.generator).__name__ == "TinyGenerator" and type(model.loss).__name__ == "SquaredLoss"
    images = model.sample(n=5, seed=0)
    assert images.shape == (5, 1, 28, 28) and torch.all(images.abs() <= 1)
