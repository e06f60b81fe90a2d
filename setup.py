"""conf/ goes into the built package as ganlab/conf, so that an installed ganlab (``pip install .``)
finds its configs through the package (ganlab/run_folders.py: CONF); the rest is pyproject.toml.

Why a build step of our own: setuptools' declarative way (``package-dir`` mapping ``ganlab.conf``
to conf/) cannot be combined with ``packages.find``, so every subpackage would be listed by hand (one
forgotten is missing from the wheel), and it turns the editable install of ``make install`` from a
path entry for src/ into an import hook. This keeps both as they are, and conf/ the one copy, at
the repository root."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConf(build_py):
    def run(self):
        super().run()
        if not self.editable_mode:  # an editable install reads the checkout's conf/ in place
            shutil.copytree(Path(__file__).parent / "conf", Path(self.build_lib) / "ganlab" / "conf",
                            dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithConf})
