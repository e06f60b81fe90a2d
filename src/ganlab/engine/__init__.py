"""How the GAN's iteration is executed; ``models/gan.py`` says what it computes.

One file a job:
    engine.py        the door: ``Engine``, the only object the module talks to
    updates.py       one update, through Lightning's strategy and hooks or directly
    counting.py      ``trainer.global_step`` counts iterations: advanced, checked, read
    cuda_graph.py    the whole iteration as one CUDA graph, and when it can be used
    ema.py           the moving average of G's weights, without host reads
    rng.py           the random state checkpoints carry
    interrupts.py    Ctrl-C and SIGTERM stop a run at the end of an iteration
    divergence.py    non-finite losses or weights stop a run; nothing is written from them
    checkpoint_io.py checkpoint files written whole or not at all
    lean_adam.py     torch's fused Adam with less Python per step (the configs' optimizer)
    private_apis.py  every private torch or Lightning API the project uses, and why
"""

from ganlab.engine.counting import ends_interval, is_log_iteration
from ganlab.engine.ema import MovingAverage
from ganlab.engine.engine import ACCELERATIONS, Engine

__all__ = ["ACCELERATIONS", "Engine", "MovingAverage", "ends_interval", "is_log_iteration"]
