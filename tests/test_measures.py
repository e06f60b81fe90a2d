"""What a run measures is registered once (ganlab/tags.py), and every reader reads it there: a value
of one's own, registered beside the callback that logs it, reaches them all."""

from __future__ import annotations

import csv
import logging
import re
import sys
import textwrap

import pytest
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

from ganlab import tags
from ganlab.errors import UserError
from ganlab.reporting.hparams import layout
from ganlab.reporting.sweep_page import write_page
from ganlab.search.objective import check_objective, objective
from ganlab.search.sweeper import Search
from ganlab.training import train
from helpers import hparams_columns, scalars

TAG = "7_mine/g_weight_norm"
MODULE = textwrap.dedent(f'''
    """A value of one's own: one entry, and the callback that computes it."""
    import lightning as L
    import torch

    from ganlab import tags
    from ganlab.schedule import is_log_iteration

    tags.register(tags.Measure("{TAG}", "The generator's weight norm, a value of one's own.", better="lower",
                               headline=True, label="G's weight norm", chart="G's weight norm"))


    class WeightNorm(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if is_log_iteration(trainer):  # when the module logs its own statistics
                norm = torch.cat([p.detach().flatten() for p in pl_module.generator.parameters()]).norm()
                pl_module.log("{TAG}", norm)
''')


@pytest.fixture
def my_measure(tmp_path, monkeypatch):
    """A module outside the project that registers a measure; the registry as it was afterwards."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "my_measure.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(folder))
    before = dict(tags.MEASURES)
    yield "my_measure.WeightNorm"
    tags.MEASURES.clear()
    tags.MEASURES.update(before)
    sys.modules.pop("my_measure", None)


def test_a_measure_of_ones_own_reaches_every_reader(my_measure, make_train_cfg, tmp_path, caplog):
    overrides = (f"+callbacks.mine._target_={my_measure}", f"optimized_metric={TAG}",
                 "trainer.max_steps=5", "trainer.log_every_n_steps=2")
    # the sweeper, in a process that builds no run: the module its config names is imported to know the measure
    assert TAG not in tags.MEASURES
    search = Search(direction="minimize", study_name="search", n_trials=1, n_jobs=1, pruner="none")
    search.config = OmegaConf.create({"optimized_metric": TAG, "trainer": {"max_steps": 5}, "eval_interval": 5,
                                      "search": {}, "callbacks": {"mine": {"_target_": my_measure}}})
    search._check()
    assert search.metrics == [TAG]
    search.config.optimized_metric = "7_mine/g_weight_nrom"
    with pytest.raises(UserError, match=re.escape(f"optimized_metric=7_mine/g_weight_nrom is not a metric a run "
                                                  f"returns: did you mean {TAG}?")):
        search._check()

    cfg = make_train_cfg(*overrides, output_dir=tmp_path / "run")
    check_objective(cfg)  # training's own check
    with caplog.at_level(logging.INFO, logger="ganlab"):
        metrics = train(cfg)
    run = tmp_path / "run"
    assert objective(cfg, metrics) == metrics[TAG] > 0, "what the run returns to a sweeper"

    # TensorBoard: the tag, its description on the chart, every log iteration including the last
    # (Lightning's own every-2 schedule misses iteration 5: the engine hands it over)
    events = EventAccumulator(str(run))
    events.Reload()
    assert events.SummaryMetadata(TAG).summary_description == \
        "Lower is better. The generator's weight norm, a value of one's own."
    assert [step for step, _ in scalars(run, TAG)] == [step for step, _ in scalars(run, tags.D_LOSS)] == [2, 4, 5]
    assert scalars(run, "final/g_weight_norm") == [(5, pytest.approx(metrics[TAG]))]
    assert events.SummaryMetadata("final/g_weight_norm").summary_description.startswith(f"The run's last value of {TAG}")
    _, columns, _ = hparams_columns(run)
    assert columns.index("final/g_weight_norm") > columns.index("final/d_loss"), "an HPARAMS column after the project's"
    assert layout()["7_mine"] == {"G's weight norm": ["Multiline", [f"^{re.escape(TAG)}$"]]}

    # the console summary, on the line with the losses, as the registry prints it
    assert re.search(rf"Final: d_loss [0-9.e-]+, g_loss [0-9.e-]+, d_accuracy [0-9.e-]+, G's weight norm "
                     rf"{metrics[TAG]:.4g}$", caplog.text, re.MULTILINE), caplog.text[-2000:]

    # the report: a column of the table and of report.csv, with which way is better
    (run / ".hydra").mkdir()
    page = write_page(run).read_text()
    assert "<th>final/g_weight_norm (lower is better)</th>" in page
    with (run / "report.csv").open() as file:
        (row,) = csv.DictReader(file)
    assert float(row["final/g_weight_norm"]) == pytest.approx(metrics[TAG], rel=1e-6)


def test_a_tag_is_registered_once_with_one_meaning():
    fid = tags.measure(tags.score("fid"))
    tags.register(fid)  # the same entry again (a module imported twice) is no change
    with pytest.raises(ValueError, match="4_quality/fid is registered already"):
        tags.register(tags.Measure(fid.tag, "another meaning", better="higher"))
    with pytest.raises(ValueError, match="better='up'"):
        tags.Measure("7_mine/x", "x", better="up")
    with pytest.raises(ValueError, match="give '<group>/<name>'"):
        tags.Measure("final/x", "x")


def test_the_project_registers_every_score_the_metrics_return():
    """A score metrics/quality.py returns without an entry would be logged undescribed and left out
    of the summary, the table and the report."""
    import torch

    from ganlab.metrics import MNISTClassifier, SampleQuality

    torch.manual_seed(0)
    quality = SampleQuality(MNISTClassifier().eval(), torch.rand(300, 1, 28, 28) * 2 - 1)  # any classifier names them
    scores = quality.score(torch.rand(200, 28, 28) * 2 - 1, labels=torch.arange(200) % 10)
    names = [k for k in scores if not k.startswith("num_")]
    assert "label_accuracy" in names and [n for n in names if tags.measure(tags.score(n)) is None] == []
    assert [m.name for m in tags.headline()] == ["d_loss", "g_loss", "d_accuracy", "fid", "classifier_score",
                                                 "precision", "recall", "min_class_share", "class_kl", "label_accuracy"]
