import math

import torch

from ganlab.models.nets.mlp import MLPDiscriminator, MLPGenerator


def test_generator_is_the_books():
    g = MLPGenerator()
    # Keras' summary of the book's generator: 100*128+128 + 128*784+784
    assert sum(p.numel() for p in g.parameters()) == 114_064
    images = g(torch.randn(5, 100))
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert g.net[1].negative_slope == 0.01


def test_discriminator_is_the_books_and_returns_logits():
    d = MLPDiscriminator()
    assert sum(p.numel() for p in d.parameters()) == 100_609  # 784*128+128 + 128+1
    logits = d(torch.randn(5, 1, 28, 28) * 10)
    assert logits.shape == (5,)
    assert (logits.abs() > 1).any(), "logits, not probabilities"


def test_keras_default_init():
    for net in (MLPGenerator(), MLPDiscriminator()):
        for layer in (m for m in net.modules() if isinstance(m, torch.nn.Linear)):
            fan_out, fan_in = layer.weight.shape
            limit = math.sqrt(6 / (fan_in + fan_out))  # glorot uniform
            assert layer.weight.abs().max() <= limit
            assert layer.weight.abs().max() > 0.95 * limit
            assert torch.all(layer.bias == 0)
