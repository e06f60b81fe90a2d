from ganlab.data.files import MNISTNotFoundError
from ganlab.data.mnist import MNISTDataModule, load_mnist, scale_pixels

__all__ = ["MNISTDataModule", "MNISTNotFoundError", "load_mnist", "scale_pixels"]
