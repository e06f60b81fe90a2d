"""How the GAN's iteration is executed; ``models/gan.py`` says what it computes.

One file a job:
    engine.py        the door: ``Engine``, the only object the module talks to; an update
                     (through Lightning's strategy and hooks, or directly) and the iteration
                     count (``trainer.global_step`` counts iterations: advanced and checked)
    cuda_graph.py    the whole iteration as one CUDA graph, and when it can be used
    private_apis.py  every private torch or Lightning API the project uses, and why

What keeps a run safe is beside it: ``ganlab/stopping`` (signals), ``ganlab/checkpoints`` (checkpoints,
resume) and ``ganlab/divergence.py``.
"""

from ganlab.engine.engine import ACCELERATIONS, Engine

__all__ = ["ACCELERATIONS", "Engine"]
