"""A run's folder: where it is (``resolvers``: the OmegaConf resolvers conf/ uses, registered when
imported) and that one run at a time writes there (``lock``: a refused run leaves it as it found it)."""
