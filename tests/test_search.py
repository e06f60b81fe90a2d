"""hparams_search=optuna: Hydra's Optuna sweeper over the learning rates, betas and batch size."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from helpers import CPU, ROOT, train_command

FAST = [*CPU, "trainer.max_steps=5"]


def search(tmp_path, data_dir, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(train_command("-m", "hparams_search=optuna", *FAST,
                           f"paths.data_dir={data_dir}", f"hydra.sweep.dir={tmp_path / 'search'}", *overrides),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_search_without_its_metric_stops_before_training(tmp_path, mnist_dir):
    done = search(tmp_path, mnist_dir, "callbacks.sample_quality=null", "hydra.sweeper.n_trials=2")
    assert done.returncode == 1
    assert ("optimized_metric=4_quality/fid comes from the sample-quality evaluation, which callbacks.sample_quality=null "
            "switches off") in done.stdout + done.stderr
    assert not [p for p in (tmp_path / "search").iterdir() if p.is_dir()], "no trial folder"


@pytest.mark.slow
def test_optuna_searches_the_learning_rates_betas_and_batch_size(tmp_path, quick_evaluator_dir):
    done = search(tmp_path, quick_evaluator_dir, "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.n_startup_trials=2",
                  "eval_interval=5", "callbacks.sample_quality.num_samples=300",
                  "+callbacks.sample_quality.min_evaluator_accuracy=0.9")
    assert done.returncode == 0, done.stderr[-3000:]
    results = yaml.safe_load((tmp_path / "search" / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"model.optimizer_g.lr", "model.optimizer_d.lr", "model.optimizer_g.betas.0",
                                           "model.optimizer_d.betas.0", "data.batch_size"}
    assert results["best_value"] > 0
    trials = sorted(p for p in (tmp_path / "search").iterdir() if p.is_dir())
    assert len(trials) == 3
    for trial in trials:
        config = yaml.safe_load((trial / ".hydra" / "config.yaml").read_text())
        overrides = yaml.safe_load((trial / ".hydra" / "overrides.yaml").read_text())
        beta1 = float(next(o for o in overrides if o.startswith("model.optimizer_d.betas.0=")).split("=")[1])
        assert config["model"]["optimizer_d"]["betas"] == [beta1, 0.999], "the searched beta1 is applied"
        assert len(trial.name) <= 120
    print(f"optuna: 3 trials, best FID {results['best_value']:.2f} with {results['best_params']}")


def test_a_metric_by_its_former_name_is_refused_with_its_new_one(make_train_cfg):
    from ganlab.errors import UserError
    from ganlab.search import check_objective

    with pytest.raises(UserError, match=r"optimized_metric=eval/fid is a metric's former name: it is logged as "
                                        r"4_quality/fid \(optimized_metric=4_quality/fid\)"):
        check_objective(make_train_cfg("optimized_metric=eval/fid"))
    check_objective(make_train_cfg("optimized_metric=4_quality/fid"))
