"""An installed ganlab (``pip install .``, not editable) works outside the checkout: its configs and
Hydra plugins come with the package, ``ganlab.train`` trains, and runs land under the current
directory (docs/python.md, "Outside a checkout")."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import QUIET, ROOT

# What `pip install .` builds from (pyproject.toml, setup.py, MANIFEST.in): copied, so that the
# build's own folders (build/, *.egg-info) are not written into the checkout
BUILD_INPUTS = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "src", "conf"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A non-editable install of this checkout into a folder of its own (no dependencies: they are
    the venv's), as ``pip install .`` does."""
    source, site = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("site")
    for name in BUILD_INPUTS:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__", "*.egg-info")}
                                            if (ROOT / name).is_dir() else {}))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(site), str(source)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return site


def isolated(site: Path, cwd: Path, code: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """``code`` in a Python that imports ganlab from ``site`` alone: ``-I`` keeps the checkout and
    PYTHONPATH off sys.path (the venv's editable install still appends src/, after ``site``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n{code}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_an_installed_package_finds_its_configs_and_plugins_inside_it(site, tmp_path):
    assert (site / "ganlab" / "conf" / "train.yaml").is_file() and (site / "ganlab" / "conf" / "model" / "mlp.yaml").is_file()
    assert {p.name for p in (site / "ganlab" / "conf").iterdir()} == {p.name for p in (ROOT / "conf").iterdir()}
    assert (site / "hydra_plugins" / "ganlab_search" / "__init__.py").is_file(), "the project's Optuna sweeper"
    assert (site / "hydra_plugins" / "hydra_optuna_sweeper" / "optuna_sweeper.py").is_file()
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = isolated(site, work, """
import json
from hydra import compose, initialize_config_dir
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
import ganlab, hydra_plugins.ganlab_search
from ganlab.run_folders.resolvers import CONF, project_root
with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
    cfg = compose(config_name="train")
print(json.dumps({"ganlab": ganlab.__file__, "plugin": hydra_plugins.ganlab_search.__file__, "conf": str(CONF),
                  "root": project_root(), "log_dir": cfg.paths.log_dir, "data_dir": cfg.paths.data_dir,
                  "sweepers": [p.__module__ for p in Plugins.instance().discover(Sweeper)]}))
""")
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert Path(seen["ganlab"]).is_relative_to(site), f"the installed ganlab, not the checkout's: {seen['ganlab']}"
    assert Path(seen["plugin"]).is_relative_to(site) and Path(seen["conf"]) == site / "ganlab" / "conf"
    assert "hydra_plugins.ganlab_search" in seen["sweepers"], "Hydra finds the installed sweeper"
    assert seen["root"] == str(work) and seen["log_dir"] == str(work / "logs") and seen["data_dir"] == str(work / "data")


@pytest.mark.slow
def test_an_installed_package_trains_from_outside_the_checkout(site, tmp_path, mnist_dir):
    work = tmp_path / "elsewhere"
    work.mkdir()
    overrides = [*QUIET, "trainer.max_steps=20", "trainer.log_every_n_steps=5", "sample_interval=10",
                 f"paths.data_dir={mnist_dir}"]
    done = isolated(site, work, f"""
import json
import ganlab
run = ganlab.train(*{overrides!r}, quiet=True)
print(json.dumps({{"ganlab": ganlab.__file__, "folder": str(run.folder), "metrics": run.metrics}}))
""", timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert Path(seen["ganlab"]).is_relative_to(site), f"the installed ganlab, not the checkout's: {seen['ganlab']}"
    folder = Path(seen["folder"])
    assert folder.parent == work / "logs" / "runs", "runs land under the current directory's logs/"
    assert math.isfinite(seen["metrics"]["final/d_loss"]) and 0 <= seen["metrics"]["2_discriminator/accuracy"] <= 1
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "finished" and record["iteration"] == 20
    hydra = yaml.safe_load((folder / ".hydra" / "hydra.yaml").read_text())["hydra"]
    sources = [s["path"] for s in hydra["runtime"]["config_sources"] if s["provider"] == "main"]
    assert sources == [str(site / "ganlab" / "conf")], "the run composed the installed package's configs"
    assert (folder / "train.log").is_file() and (folder / "checkpoints" / "last.ckpt").is_file()

    # The installed command itself (what ganlab.train runs): a misspelled key gets the key it meant
    env = {**os.environ, "PYTHONPATH": str(site)}
    refused = subprocess.run([sys.executable, "-m", "ganlab", "trainer.max_step=10", "paths.log_dir=refused"],
                             cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "did you mean trainer.max_steps?" in refused.stderr, refused.stderr[-2000:]
    assert not (work / "refused").exists(), "a refused run leaves nothing"
