"""``hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper``: ganlab/search/sweeper.py."""

from ganlab.search.sweeper import Search


class OptunaSweeper(Search):
    pass
