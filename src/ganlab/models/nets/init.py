from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def keras_default_init(module: nn.Module) -> None:
    """Keras' defaults for Dense/Conv layers: glorot-uniform weights, zero biases.

    PyTorch's own default (kaiming-uniform with a=sqrt(5)) gives smaller weights; the book's
    training dynamics were tuned with these. Use as ``net.apply(keras_default_init)``.
    """
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def with_spectral_norm(net: nn.Module) -> nn.Module:
    """Puts torch's spectral normalisation on every Linear and Conv layer of ``net``, in place."""
    for name, child in list(net.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv2d)):
            setattr(net, name, spectral_norm(child))
        else:
            with_spectral_norm(child)
    return net
