"""Hydra instantiates sweepers from the ``hydra_plugins`` package only, by the module that defines
them: the search itself is ganlab/search/sweeper.py, its configs config.py (``hydra/sweeper=optuna``)."""

from ganlab.search.sweeper import Search
from hydra_plugins.ganlab_search.config import register

register()


class OptunaSearch(Search):
    pass
