from ganlab.models.gan import GAN

__all__ = ["GAN"]
