"""The sweeper's configs, as the official hydra-optuna-sweeper names them, so that any Hydra app
(not only this project's train.py, whose conf/ is not on other apps' search path) can say
``override /hydra/sweeper: optuna`` and ``override /hydra/sweeper/sampler: tpe``. Registered in
Hydra's ConfigStore when Hydra scans ``hydra_plugins`` for plugins, as the official plugin does.
The keys and their defaults are the official plugin's; ``pruner`` is this project's addition."""

from hydra.core.config_store import ConfigStore

# Each sampler's keys and defaults, as in the official plugin's config.py (null: Optuna's own default)
SAMPLERS = {
    "tpe": {"_target_": "optuna.samplers.TPESampler", "seed": None, "consider_prior": None,
            "prior_weight": None, "consider_magic_clip": None, "consider_endpoints": None,
            "n_startup_trials": 10, "n_ei_candidates": 24, "multivariate": False,
            "warn_independent_sampling": None},
    "random": {"_target_": "optuna.samplers.RandomSampler", "seed": None},
    "cmaes": {"_target_": "optuna.samplers.CmaEsSampler", "seed": None, "x0": None, "sigma0": None,
              "independent_sampler": None, "warn_independent_sampling": True, "consider_pruned_trials": False,
              "restart_strategy": None, "inc_popsize": 2, "use_separable_cma": False, "source_trials": None},
    "nsgaii": {"_target_": "optuna.samplers.NSGAIISampler", "seed": None, "population_size": 50,
               "mutation_prob": None, "crossover_prob": 0.9, "swapping_prob": 0.5, "constraints_func": None},
    # Removed from Optuna in 4.0 (TPE handles several objectives): a line saying so, as the official plugin says
    "motpe": {"_target_": "ganlab.search.sampler.motpe_removed"},
    "gp": {"_target_": "optuna.samplers.GPSampler", "seed": None, "independent_sampler": None,
           "n_startup_trials": 10, "deterministic_objective": False, "constraints_func": None,
           "warn_independent_sampling": True},
    "qmc": {"_target_": "optuna.samplers.QMCSampler", "seed": None, "qmc_type": "sobol", "scramble": False,
            "independent_sampler": None, "warn_asynchronous_seeding": True, "warn_independent_sampling": True},
    # The grid's values come from hydra.sweeper.params at run time
    "grid": {"_target_": "optuna.samplers.GridSampler", "_partial_": True},
}

SWEEPER = {
    "_target_": "hydra_plugins.ganlab_search.OptunaSearch",
    "defaults": [{"sampler": "tpe"}],
    "_recursive_": False,  # the sampler and storage are built by the sweeper (ganlab/search/sampler.py says why)
    "sampler": "???",
    "direction": "minimize",      # or a list, one for each objective: [minimize, maximize]
    "storage": None,              # a URL (sqlite:///<file>, postgresql://...), a journal file, or an object config
    "study_name": None,
    "n_trials": 20,               # in all, over every run of the command and every process sharing the study
    "n_jobs": 2,                  # trials asked and launched together (side by side under hydra/launcher=joblib)
    "max_failure_rate": 0.0,      # a batch with a larger share of failed trials stops the search
    "params": None,
    "custom_search_space": None,  # a function (config, optuna trial) that suggests more parameters
    "pruner": "none",             # the project's addition: none | median | hyperband
}


def register() -> None:
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="optuna", node=SWEEPER, provider="ganlab")
    for name, node in SAMPLERS.items():
        store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="ganlab")
