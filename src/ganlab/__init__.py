"""GAN experiments on MNIST with PyTorch Lightning and Hydra."""
