"""GAN experiments on MNIST with PyTorch Lightning and Hydra.

From Python: ``ganlab.train(...)``, ``ganlab.load(...)``, ``ganlab.evaluate(...)``, ``ganlab.load_sweep(...)``
(ganlab/api.py).
"""

_API = ("train", "load", "load_sweep", "evaluate", "Run", "RunFailed", "Sweep")


def __getattr__(name: str):
    # loaded on first use, so that `import ganlab` (and every command's start-up) stays light
    if name in _API:
        from ganlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'ganlab' has no attribute {name!r}")
