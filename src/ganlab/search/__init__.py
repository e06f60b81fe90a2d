"""Hyperparameter search: what a trial returns to the search (objective.py), and the search itself
on Optuna behind Hydra's sweeper interface (sweeper.py, study.py, space.py, trial.py)."""

from ganlab.search.objective import check_objective, objective, searching

__all__ = ["check_objective", "objective", "searching"]
