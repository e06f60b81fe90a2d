"""A run's checkpoints: written whole, read as data only, trusted by name, resumed as the same experiment.

- ``saving``: when checkpoints are written (Lightning's trigger, plus ``last.ckpt`` at the end),
  never of non-finite weights, each file whole or not at all.
- ``reading``: one checkpoint as data only; which of a folder's ``ckpt_path=auto`` resumes.
- ``trust``: what a checkpoint may name for ``hydra.utils.instantiate`` to build (an allow-list).
- ``resume``: what a resume may change, and ``ckpt_path=auto``.
- ``random_state``: the random streams a checkpoint carries, so a resumed run draws the same noise.
"""
