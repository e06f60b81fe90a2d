"""The official plugin's class path, for configs that name it (lightning-hydra-template's
``hparams_search/mnist_optuna.yaml`` sets ``_target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper``):
this project's sweeper under that name. It replaces the official package, which needs optuna<3
(``make install`` uninstalls it)."""
