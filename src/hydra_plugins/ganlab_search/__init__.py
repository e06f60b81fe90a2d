"""Hydra instantiates sweepers from the ``hydra_plugins`` package only, by the module that defines
them: the search itself is ganlab/search/sweeper.py (conf/hydra/sweeper/optuna_search.yaml)."""

from ganlab.search.sweeper import Search


class OptunaSearch(Search):
    pass
