from ganlab.data.mnist_datamodule import MNISTDataModule, scale_pixels
from ganlab.data.mnist_files import MNISTNotFoundError, load_mnist

__all__ = ["MNISTDataModule", "MNISTNotFoundError", "load_mnist", "scale_pixels"]
