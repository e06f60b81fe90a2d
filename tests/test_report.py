"""The sweep report on what a sweep folder holds while it runs or after jobs failed."""

from __future__ import annotations

import html
import logging
import shutil

import pytest
from PIL import Image

from ganlab.reporting.sweep_page import write_page
from ganlab.training import train
from helpers import assert_says, scalars


def test_the_report_reads_finished_failed_and_not_yet_started_jobs(checkpoint, tmp_path):
    run = checkpoint.parent.parent  # the shared 5-iteration run (trained in-process: no .hydra of its own)
    sweep = tmp_path / "sweep"
    shutil.copytree(run, sweep / "0_data.batch_size=32")
    failed = sweep / "1_data.batch_size=64"
    shutil.copytree(run, failed)
    (failed / "train.log").write_text("[2026-11-27 08:00:00,000][__main__][ERROR] - training diverged at iteration "
                                      "4: d_loss nan, g_loss nan. No checkpoint was written before it.\n")
    waiting = sweep / "2_data.batch_size=128"  # started: Hydra's record, nothing logged yet
    for job, size in ((sweep / "0_data.batch_size=32", 32), (failed, 64), (waiting, 128)):
        (job / ".hydra").mkdir(parents=True, exist_ok=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- data.batch_size={size}\n")
        (job / ".hydra" / "config.yaml").write_text("trainer:\n  max_steps: 5\n")

    page = write_page(sweep).read_text()
    rows = page.split("</table>")[0].split("<tr>")[2:]
    assert len(rows) == 3
    assert "<td>32</td>" in rows[0] and "<td>finished</td>" in rows[0]
    assert "training diverged at iteration 4" in rows[1]
    assert "running or stopped (0 of 5)" in rows[2], "a job that has logged nothing yet"
    assert page.count("<figure>") == 2, "grids of the jobs that drew one"

    single = write_page(sweep / "0_data.batch_size=32").read_text()  # one run on its own
    assert single.count("<tr>") == 2 and "<td>finished</td>" in single


def test_training_time_is_the_runs_own_count_of_it(make_train_cfg, tmp_path):
    train(make_train_cfg("trainer.max_steps=6", "trainer.log_every_n_steps=3", output_dir=tmp_path / "run"))
    (tmp_path / "run" / ".hydra").mkdir()
    clock = scalars(tmp_path / "run", "6_time/training_seconds")
    assert [step for step, _ in clock] == [3, 6] and 0 < clock[0][1] < clock[1][1]
    table = write_page(tmp_path / "run").read_text().split("</table>")[0].split("<tr>")
    header = [c.split("</th>")[0] for c in table[1].split("<th>")[1:]]
    row = dict(zip(header, [c.split("</td>")[0] for c in table[2].split("<td>")[1:]]))
    assert (row["iterations"], row["training s"], row["it/s"]) == ("6", f"{clock[1][1]:.1f}", f"{6 / clock[1][1]:.1f}")


def test_speed_is_measured_between_logged_iterations_and_absent_after_one(tmp_path):
    """Runs from before the clock; the first one also from before the numbered tags (train/d_loss)."""
    from torch.utils.tensorboard import SummaryWriter

    sweep = tmp_path / "sweep"
    for job, tag, points in (("0_a=1", "train/d_loss", [(50, 1000.0), (100, 1001.0), (150, 1002.0)]),
                             ("1_a=2", "1_losses/d_loss", [(30, 1000.0)])):
        folder = sweep / job
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(f"- a={job[-1]}\n")
        writer = SummaryWriter(str(folder))
        for step, wall in points:  # a start-up of minutes before the first point must not count
            writer.add_scalar(tag, 0.5, step, walltime=wall)
        writer.close()
    rows = write_page(sweep).read_text().split("</table>")[0].split("<tr>")[2:]
    cells = [[c.split("</td>")[0] for c in row.split("<td>")[1:]] for row in rows]
    # job, a, status, iterations, training s, it/s
    assert cells[0][3:6] == ["150", "3.0", "50.0"]
    assert cells[1][3:6] == ["30", "", ""], "one logged iteration: no speed to show"


def test_a_one_seed_sweep_marks_no_best_run_says_so_and_which_way_is_better_and_what_was_held_fixed(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    sweep = tmp_path / "sweep"
    for num, (batch, fid) in enumerate(((32, 3.5), (64, 2.25), (128, 4.0))):
        folder = sweep / f"{num}_data.batch_size={batch}"
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(f"- data.batch_size={batch}\n- trainer.max_steps=5\n")
        (folder / ".hydra" / "hydra.yaml").write_text("hydra:\n  runtime:\n    choices:\n      model: mlp\n"
                                                      "      loss: bce\n")
        writer = SummaryWriter(str(folder))
        writer.add_scalar("final/fid", fid, 5)
        writer.add_scalar("final/recall", 0.1 * (num + 1), 5)
        writer.close()
    page = html.unescape(write_page(sweep).read_text())
    assert "<th>final/fid (lower is better)</th>" in page and "<th>final/recall (higher is better)</th>" in page
    assert "<td>2.25</td>" in page and "<b>2.25" not in page, "a one-seed best is not marked"
    assert "One seed per setting: differences between these runs are not evidence unless they are larger than " \
           "the seeds' spread for the recipe (on the book's GAN" in page
    assert "final FIDs spread 5.5 to 12.2" in page and 'benchmarks/README.md, "Seed spread"' in page
    assert 'id="settings"' not in page and 'id="answer"' not in page, "no summary over seeds to give"
    assert "Held fixed: trainer.max_steps=5" in page
    assert (sweep / "report_finals.png").is_file()


def fake_sweep(root, settings, recipe=("mlp", "bce"), steps=(100, 200)):
    """A sweep folder as src/train.py leaves it, written directly: ``settings`` maps a batch size
    to one final FID a seed (its FID curve ends there, evaluated at ``steps``, or ``steps(batch)``)."""
    from torch.utils.tensorboard import SummaryWriter

    num, every = 0, steps
    for batch, fids in settings.items():
        steps = every(batch) if callable(every) else every
        for seed, fid in enumerate(fids):
            folder = root / f"{num}_data.batch_size={batch},seed={seed}"
            (folder / ".hydra").mkdir(parents=True)
            (folder / ".hydra" / "overrides.yaml").write_text(f"- data.batch_size={batch}\n- seed={seed}\n")
            (folder / ".hydra" / "config.yaml").write_text(
                f"seed: {seed}\ndata:\n  batch_size: {batch}\ntrainer:\n  max_steps: {steps[-1]}\n")
            (folder / ".hydra" / "hydra.yaml").write_text(
                f"hydra:\n  runtime:\n    choices:\n      model: {recipe[0]}\n      loss: {recipe[1]}\n")
            writer = SummaryWriter(str(folder))
            for step in steps:
                writer.add_scalar("1_losses/d_loss", 0.5, step)
                writer.add_scalar("6_time/training_seconds", step * batch / 1000, step)
                writer.add_scalar("4_quality/fid", fid + (steps[-1] - step) / 10, step)
                writer.add_scalar("4_quality/classifier_score", 1 + step / 100 + seed / 10, step)
            writer.add_scalar("final/fid", fid, steps[-1])
            writer.close()
            (folder / "samples").mkdir()
            Image.new("L", (4, 4)).save(folder / "samples" / f"iter_{steps[-1]:06d}.png")
            num += 1
    return root


def settings_table(page):
    """The settings table as {first column: {header: cell}}."""
    table = page.split('<table id="settings">')[1].split("</table>")[0]
    header = [c.split("</th>")[0] for c in table.split("<tr>")[1].split("<th>")[1:]]
    rows = [[c.split("</td>")[0] for c in row.split("<td>")[1:]] for row in table.split("<tr>")[2:]]
    # a cell's lines (mean ± std, then [min, max] (n)) as one
    return {row[0]: dict(zip(header, [" ".join(cell.split("<br>")) for cell in row])) for row in rows}


def test_a_difference_inside_the_seed_spread_is_not_marked(tmp_path):
    # the measured FIDs on main: batch 128's mean is lowest, but its seeds overlap the others'
    sweep = fake_sweep(tmp_path / "sweep", {32: [47.8, 53.3, 52.6], 128: [45.0, 46.3, 50.9], 512: [46.6, 58.8, 49.3]})
    page = html.unescape(write_page(sweep).read_text())
    rows = settings_table(page)
    assert rows["128"]["final/fid (lower is better)"] == "47.4 ± 3.1 [45, 50.9] (n=3)"
    assert rows["32"]["seeds"] == "0, 1, 2"
    assert "better beyond" not in page.split('<table id="settings">')[1].split("</table>")[0]
    assert "final/fid: within seed noise: the best mean is data.batch_size=128" in page
    assert "Welch's t-test" in page and "<b>" not in page.split("<h2>Runs</h2>")[1]
    grids = page.split("<h2>Last sample grids</h2>")[1].split("<div>")[1:]
    assert [g.count("<figure>") for g in grids] == [3, 3, 3], "a row a setting, a grid a seed"
    assert "data.batch_size=512, seed=2<br>iteration 200" in grids[2]
    assert page.split('<p id="answer">')[1].split("</p>")[0].endswith(
        "So these runs do not single out one setting: the best final/fid is within seed noise of others, and choosing "
        "by the best value would be choosing by the seed. Among the settings it cannot tell apart, take the cheapest "
        "(here data.batch_size=32), or add seeds or iterations to resolve smaller differences.")


def test_a_difference_outside_the_seed_spread_is_marked(tmp_path):
    sweep = fake_sweep(tmp_path / "sweep", {32: [20.0, 21.0, 22.0], 128: [10.0, 11.5, 12.0], 512: [30.0, 31.0, 29.0]})
    page = html.unescape(write_page(sweep).read_text())
    rows = settings_table(page)
    assert "better beyond the seeds' spread" in rows["128"]["final/fid (lower is better)"]
    assert not [r for size, r in rows.items() if size != "128" and "better" in r["final/fid (lower is better)"]]
    assert "final/fid: data.batch_size=128 (11.17 ± 1 [10, 12] (n=3)) is better than every other setting" in page
    assert "within seed noise" not in page.split("<ul>")[1].split("</ul>")[0]


@pytest.mark.parametrize("fids, verdict", [
    ({32: [47.8, 53.3, 52.6], 128: [45.0, 46.3, 50.9]}, "final/fid: within seed noise: the best mean is "
     "data.batch_size=128 (47.4 ± 3.1 [45, 50.9] (n=3)), not told apart from data.batch_size=32 (p="),
    ({32: [20.0, 21.0, 22.0], 128: [10.0, 11.5, 12.0]}, "final/fid: data.batch_size=128 (11.17 ± 1 [10, 12] (n=3)) "
     "is better than every other setting beyond the seeds' spread (p <= "),
    ({32: [47.8], 128: [45.0]}, "One seed per setting: differences between these runs are not evidence unless "
     "they are larger than the seeds' spread for the recipe (on the book's GAN"),
    ({32: [47.8, 53.3, 52.6]}, "One setting over seeds 0, 1, 2: final/fid 51.23 ± 3 [47.8, 53.3] (n=3)"),
    ({32: [0.0, 0.0], 128: [0.0, 0.0]}, "final/fid: every run scores 0: nothing to tell apart"),  # e.g. recall 0
])
def test_the_sweeps_last_console_lines_give_the_same_verdict(tmp_path, caplog, fids, verdict):
    from omegaconf import OmegaConf

    from ganlab.reporting.console import SweepSummary

    sweep = fake_sweep(tmp_path / "sweep", fids)
    with caplog.at_level(logging.INFO, logger="ganlab"):
        SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ganlab")]  # not TensorBoard's reader
    assert lines[0] == f"Sweep folder: {sweep}" and lines[-1] == f"Its page: make report ARGS={sweep}"
    assert any(line.startswith(verdict) for line in lines), lines
    if len(fids[32]) > 1 and len(fids) > 1:
        assert "Compared by Welch's t-test" in lines[1]


def test_a_sweep_folder_that_cannot_be_read_is_one_warning_line(tmp_path, caplog):
    from omegaconf import OmegaConf

    from ganlab.reporting.console import SweepSummary

    (tmp_path / "sweep").mkdir()
    with caplog.at_level(logging.INFO, logger="ganlab"):
        SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}}))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert_says(warnings[0], "Could not compare the sweep's settings", f"{tmp_path / 'sweep'} holds no runs",
                "its page may say more")


def test_the_table_goes_to_csv_and_load_sweep_returns_it_and_each_run(tmp_path):
    import csv

    import ganlab

    sweep = fake_sweep(tmp_path / "sweep", {32: [47.8, 53.3], 128: [45.0, 46.3]})
    write_page(sweep)
    with (sweep / "report.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["data.batch_size"], r["seed"], r["final/fid"]) for r in rows] == [
        ("32", "0", "47.8"), ("32", "1", "53.3"), ("128", "0", "45.0"), ("128", "1", "46.3")]
    assert rows[2]["status"] == "finished" and rows[2]["iterations"] == "200" and rows[2]["images_seen"] == "25600"
    loaded = ganlab.load_sweep(sweep)
    assert [{k: str(v) for k, v in row.items()} for row in loaded.table] == rows, "the same table as the file"
    assert loaded.keys == ["data.batch_size"]
    assert [run.folder.name for run in loaded.runs] == [r["job"] for r in rows]
    assert loaded.runs[3].metrics["final/fid"] == pytest.approx(46.3)
    assert loaded.verdicts[1].startswith("final/fid: within seed noise")
    with pytest.raises(ganlab.api.UserError, match="holds no runs"):
        ganlab.load_sweep(tmp_path)


def test_the_table_gives_the_score_at_equal_images_seen_where_every_run_reaches_it(tmp_path):
    # batch 32 evaluates at its end (6,400 images), batch 128 every 50 iterations: 6,400 images at 50
    sweep = fake_sweep(tmp_path / "sweep", {32: [20.0, 21.0], 128: [10.0, 11.0]},
                       steps=lambda batch: tuple(range(200 * 32 // batch, 201, 200 * 32 // batch)))
    page = html.unescape(write_page(sweep).read_text())
    rows = settings_table(page)
    column = "4_quality/fid (lower is better) at 6,400 images seen"
    better = " <span class=\"better\">better beyond the seeds' spread</span>"
    assert rows["32"][column] == f"<b>20.5 ± 0.71 [20, 21] (n=2)</b>{better}", "at equal images, batch 32 leads"
    assert rows["128"][column] == "25.5 ± 0.71 [25, 26] (n=2)", "batch 128's FID 150 iterations before its end"
    assert rows["128"]["final/fid (lower is better)"] == f"<b>10.5 ± 0.71 [10, 11] (n=2)</b>{better}"
    assert "4_quality/fid at 6,400 images: data.batch_size=32 (20.5 ± 0.71 [20, 21] (n=2)) is better" in page
    assert "4_quality/classifier_score at 6,400 images: data.batch_size=32 (3.05 ± 0.071 [3, 3.1] (n=2)) is better" in page
    answer = page.split('<p id="answer">')[1]
    assert answer.startswith("Which data.batch_size? 2 settings, 2 seeds each, 200 iterations.")
    assert "On 4_quality/classifier_score at 6,400 images data.batch_size=32 is better, beyond the seeds' spread." in answer
    assert answer.split("</p>")[0].endswith("So, beyond the seeds' spread: data.batch_size=128 is better on final/fid; "
                                            "data.batch_size=32 is better on 4_quality/fid at 6,400 images.")
    runs = page.split('<table id="runs">')[1].split("</table>")[0].split("<tr>")
    assert runs[1].endswith("<th>4_quality/fid (lower is better) at 6,400 images seen</th>"
                            "<th>4_quality/classifier_score (higher is better) at 6,400 images seen</th></tr>")
    assert runs[4].endswith("<td>10</td><td>25</td><td>1.5</td></tr>"), "job 2: batch 128, seed 0, at iteration 50"
    for axis in ("report_curves.png", "report_curves_images.png", "report_curves_seconds.png"):
        assert f'<img src="{axis}">' in page and (sweep / axis).is_file()


def test_batch_size_study_sweeps_five_batch_sizes_three_seeds_each_scored_at_equal_images():
    from hydra import compose, initialize_config_dir

    from helpers import CONF_DIR, compose_config

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        hydra = compose("train", ["experiment=batch_size_study"], return_hydra_config=True).hydra
        # docs/search.md's full length on a cluster
        full = compose("train", ["experiment=batch_size_study", "trainer.max_steps=20000", "hydra/launcher=slurm",
                                 "callbacks.sample_quality.num_samples=10000"], return_hydra_config=True)
    assert dict(hydra.sweeper.params) == {"data.batch_size": "32,64,128,256,512", "seed": "0,1,2"}
    assert hydra.launcher._target_.endswith("JoblibLauncher"), "jobs side by side, one a core"
    assert full.hydra.launcher._target_.endswith("SlurmLauncher") and full.callbacks.sample_quality.num_samples == 10000
    for length in (1600, 20000):  # the CPU's and the full length
        for batch in (32, 64, 128, 256, 512):
            cfg = compose_config("train", ["experiment=batch_size_study", f"data.batch_size={batch}",
                                           f"trainer.max_steps={length}"])
            assert cfg.eval_interval * batch == 32 * length and cfg.model.generator._target_.endswith("MLPGenerator")
            assert cfg.sample_interval == length and cfg.callbacks.sample_quality.num_samples == 2000
