"""Generators and discriminators: plain ``nn.Module``s, chosen by the ``model`` config group."""
