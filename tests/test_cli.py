"""The commands users type, run as subprocesses exactly as the README shows them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ganlab.command_line import misspelled_keys
from ganlab.run_folders.resolvers import _job_dirname
from helpers import QUIET, ROOT, assert_says, hparams_columns, run_command, scalars


def test_multirun_sweep_gives_one_named_folder_per_value(tmp_path, mnist_dir):
    done = run_command("train.py", "-m", "data.batch_size=32,64", "trainer.max_steps=3", *QUIET,
                       f"paths.log_dir={tmp_path}", f"paths.data_dir={mnist_dir}", check=True)
    (sweep,) = (tmp_path / "multiruns").iterdir()
    out = done.stdout + done.stderr
    assert out.count("TensorBoard: ") == 1, "one TensorBoard line, for the sweep, not one a job"
    assert f"Sweep folder: {sweep}" in out and f"Its page: make report ARGS={sweep}" in out
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert [j.split("_")[0] for j in jobs] == ["0", "1"]
    assert "data.batch_size=32" in jobs[0]
    assert "data.batch_size=64" in jobs[1]
    for job in jobs:
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
        assert list((sweep / job).glob("events.out.tfevents.*")), "each job is a TensorBoard run of its own"
    batch_sizes = [yaml.safe_load((sweep / j / ".hydra" / "config.yaml").read_text())["data"]["batch_size"] for j in jobs]
    assert batch_sizes == [32, 64]
    columns, metrics, values = hparams_columns(sweep / jobs[1])
    assert columns[:2] == ["data.batch_size", "trainer.max_steps"], "HPARAMS shows the swept key first"
    assert values["data.batch_size"] == 64 and values["model"] == "mlp" and values["loss"] == "bce"
    assert len(columns) <= 16 and not [c for c in columns if "_target_" in c or "path" in c or "interval" in c]
    assert {"final/d_loss", "final/g_loss", "final/d_accuracy"} <= set(metrics)

    run_command("report.py", str(sweep), check=True)  # the sweep report: one page
    page = (sweep / "report.html").read_text()
    header = page.split("<tr>")[1]
    assert "<th>data.batch_size</th>" in header and "<th>final/d_loss</th>" in header
    rows = page.split("</table>")[0].split("<tr>")[2:]
    assert [row.split("<td>")[2].split("</td>")[0] for row in rows] == ["32", "64"]
    assert all("<td>finished</td>" in row for row in rows)
    for src in [part.split('"')[0] for part in page.split('src="')[1:]]:
        assert (sweep / src).is_file(), src
    assert page.count("<figure>") == 2, "each job's last grid"


def test_resume_continues_the_same_run_and_its_curves(tmp_path, mnist_dir):
    common = [*QUIET, "trainer.log_every_n_steps=1", "checkpoint_interval=3", "trainer.max_steps=6",
              f"paths.log_dir={tmp_path}", f"paths.data_dir={mnist_dir}"]
    first = run_command("train.py", *common, check=True, fresh=True)  # a new interpreter: its imports' chatter too
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert_console_sums_up(first.stdout + first.stderr, run_dir)
    original_config = (run_dir / ".hydra" / "config.yaml").read_text()

    run_command("train.py", *common, f"ckpt_path={run_dir / 'checkpoints' / 'iter_000003.ckpt'}", check=True)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name], "no second run folder"
    assert (run_dir / ".hydra" / "config.yaml").read_text() == original_config
    assert len(list((run_dir / ".hydra").glob("resumed_*"))) == 1
    # TensorBoard sees one curve: the cut-short run's steps 4-6 are replaced by the resumed ones
    steps = [step for step, _ in scalars(run_dir, "1_losses/d_loss")]
    assert steps == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow  # the command runs end to end fast in test_generation.py (a grid), its .npy in-process there
def test_generate_writes_raw_samples(tmp_path, checkpoint):
    """The command end to end (grids and the other cases are tested in-process: test_generation.py)."""
    run_command("generate.py", f"ckpt_path={checkpoint}", "n=100", f"out={tmp_path / 'samples.npy'}", check=True)
    assert np.load(tmp_path / "samples.npy").shape == (100, 28, 28)
    assert not list(Path(ROOT).glob("generate.log")), "generate writes no log file into the project"


@pytest.mark.slow
def test_a_diverging_run_says_so_in_one_line_and_exits_1(tmp_path, mnist_dir):
    result = run_command("train.py", "model.optimizer_d.lr=1e30", "model.optimizer_g.lr=1e30",
                         "trainer.max_steps=100", "trainer.log_every_n_steps=10", *QUIET, f"paths.log_dir={tmp_path}",
                         f"paths.data_dir={mnist_dir}")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert_says([line for line in output.splitlines() if "training diverged" in line][0],
                "Lower the learning rates", "model.optimizer_g.lr", "model.optimizer_d.lr")
    assert "Traceback" not in output
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert not list(run_dir.glob("checkpoints/*.ckpt")), "nothing was saved from the diverged weights"


@pytest.mark.slow  # a two-job sweep in a subprocess
def test_a_diverging_job_of_a_sweep_fails_alone(tmp_path, mnist_dir):
    result = run_command("train.py", "-m", "model.optimizer_d.lr=1e30,0.001", "model.optimizer_g.lr=1e30",
                         "trainer.max_steps=60", "trainer.log_every_n_steps=10", *QUIET,
                         f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweep.subdir=${hydra.job.num}",
                         f"paths.data_dir={mnist_dir}")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "training diverged at iteration" in output
    assert (tmp_path / "sweep" / "1" / "checkpoints" / "last.ckpt").is_file(), "the next job still ran"


@pytest.mark.slow  # fast: the check (test_training, test_config_checks), its one line (test_errors), no folder (test_run_folder)
@pytest.mark.parametrize(("override", "phrases"), [
    ("model.d_update=both", ("model.d_update='both'", "use 'separate'", "'joint'")),
    ("paths.output_dir=ELSEWHERE", ("paths.output_dir=ELSEWHERE", "hydra.run.dir=ELSEWHERE", "follows it")),
])
def test_bad_input_gets_one_line_exit_1_and_no_run_folder(tmp_path, mnist_dir, override, phrases):
    elsewhere = str(tmp_path / "elsewhere")
    result = run_command("train.py", override.replace("ELSEWHERE", elsewhere), *QUIET, f"paths.log_dir={tmp_path}",
                         f"paths.data_dir={mnist_dir}")
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1
    assert_says(output.splitlines()[-1], *(phrase.replace("ELSEWHERE", elsewhere) for phrase in phrases))
    assert "Traceback" not in output
    assert not list((tmp_path / "runs").iterdir()), "a run that never started leaves no folder"
    assert not (tmp_path / "elsewhere").exists()


def assert_console_sums_up(out: str, run_dir: Path) -> None:
    """Where the run goes and what it trains first, a summary at the end, no library chatter."""
    for line in (f"Run folder: {run_dir}", "Training generator MLPGenerator (114,064 parameters)",
                 "Trained iterations 0-6 in", "Final: d_loss", f"Checkpoint: {run_dir / 'checkpoints' / 'last.ckpt'}",
                 f"Last sample grid: {run_dir / 'samples' / 'iter_000006.png'}",
                 f"TensorBoard: {Path(sys.executable).parent / 'tensorboard'} --logdir_spec {run_dir.name}:{run_dir}"):
        assert line in out, line
    command = out.split("TensorBoard: ")[1].split()[0]
    assert Path(command).is_file(), "the printed command runs from a fresh shell: the venv's own tensorboard"
    for noise in ("GPU available", "litlogger", "LeafSpec", "Total Flops", "LOCAL_RANK"):
        assert noise not in out, noise


def test_long_sweep_job_names_are_cut_to_a_unique_folder_name():
    assert _job_dirname(0, "data.batch_size=32") == "0_data.batch_size=32"
    long_a, long_b = "model.optimizer_g.lr=0.00019182157424526137," * 6, "model.optimizer_g.lr=0.00019182157424526138," * 6
    a, b = _job_dirname(3, long_a), _job_dirname(3, long_b)
    assert len(a) == len(b) == 120 and a != b and a.startswith("3_model.optimizer_g.lr=")


@pytest.mark.slow
def test_generate_draws_interpolation_rows(tmp_path, checkpoint):
    run_command("generate.py", f"ckpt_path={checkpoint}", "n=3", "interpolate=6", f"out={tmp_path / 'walk.png'}",
                "device=cpu", check=True)
    with Image.open(tmp_path / "walk.png") as grid:
        assert grid.size == (3 * (2 + 6 * 30), 3 * (2 + 3 * 30)), "6 images a row, 3 rows (28 px + 2 px padding each), 3x"


def test_help_lists_every_group_and_experiment_and_each_command_its_own_options():
    train_help = run_command("train.py", "--help", check=True).stdout
    groups = [p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name != "hydra"] + ["hydra/launcher"]
    for group in groups:
        assert f"  {group}=" in train_help, group
    for experiment in (ROOT / "conf" / "experiment").glob("*.yaml"):
        assert f"\n  {experiment.stem} " in train_help, experiment.stem
    for search in (ROOT / "conf" / "hparams_search").glob("*.yaml"):
        assert f" {search.stem}: " in train_help, search.stem
    assert "--cfg job" in train_help and "seed: 42" not in train_help, "a guide, not 144 lines of resolved config"
    generate_help = run_command("generate.py", "--help", check=True).stdout
    assert "ckpt_path=" in generate_help and "interpolate=" in generate_help and "experiment" not in generate_help
    evaluate_help = run_command("evaluate.py", "--help", check=True).stdout
    assert "samples=" in evaluate_help and "experiment" not in evaluate_help


def test_a_misspelled_key_names_the_command_as_it_was_started(monkeypatch):
    """``python -m ganlab`` (an installed package, no src/ to point to) is told its own command."""
    monkeypatch.setattr(sys, "argv", [str(ROOT / "src" / "ganlab" / "__main__.py"), "trainer.max_step=10"])
    (line,) = misspelled_keys(ROOT / "conf", "train", sys.argv[1:])
    assert_says(line, "did you mean trainer.max_steps?", "(python -m ganlab --cfg job lists them all")


def test_a_misspelled_key_gets_the_key_it_meant_in_every_command(tmp_path):
    done = run_command("train.py", "trainer.max_step=10", f"paths.log_dir={tmp_path}", timeout=120)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert_says(line, "Error: trainer.max_step is not a setting", "did you mean trainer.max_steps?",
                "python src/train.py --cfg job", "+trainer.max_step=")
    assert not tmp_path.joinpath("runs").exists()
    for script, typo in (("generate.py", "ckpt"), ("evaluate.py", "ckpt_pth")):
        done = run_command(script, f"{typo}=x.ckpt", timeout=120)
        assert done.returncode == 1
        (line,) = done.stderr.strip().splitlines()
        assert_says(line, f"Error: {typo} is not a setting", "did you mean ckpt_path?", f"python src/{script} --cfg job",
                    f"+{typo}=")


def test_a_forked_command_ends_as_a_fresh_interpreter_would(tmp_path):
    """``run_command`` forks most commands from a pre-imported interpreter (tests/forked.py): their exit
    code, stdout and stderr are a fresh ``python``'s, so the tests above read what a user would see."""
    script = tmp_path / "ends.py"
    script.write_text("import os, signal, sys\nprint('out', sys.argv[1:], os.getcwd(), __name__)\n"
                      "if sys.argv[1] == 'path': print(sys.path, os.environ.get('MINE'))\n"
                      "print('err', file=sys.stderr)\n"
                      "how = sys.argv[1]\n"
                      "if how == 'exit': sys.exit(3)\n"
                      "if how == 'message': sys.exit('a message')\n"
                      "if how == 'raise': raise ValueError('boom')\n"
                      "if how == 'ctrl-c': raise KeyboardInterrupt\n"
                      "if how == 'kill': os.kill(os.getpid(), signal.SIGKILL)\n")
    codes = {}
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "mine"), "MINE": "set"}
    for how in ("ok", "path", "exit", "message", "raise", "ctrl-c", "kill"):
        forked = run_command(str(script), how, cwd=tmp_path, env=env)
        fresh = run_command(str(script), how, cwd=tmp_path, env=env, fresh=True)
        assert (forked.returncode, forked.stdout) == (fresh.returncode, fresh.stdout), how
        assert forked.stderr.splitlines()[-1:] == fresh.stderr.splitlines()[-1:], how
        codes[how] = forked.returncode
        if how == "ok":
            assert forked.stdout == f"out ['ok'] {tmp_path} __main__\n" and forked.stderr == "err\n"
    assert codes == {"ok": 0, "path": 0, "exit": 3, "message": 1, "raise": 1, "ctrl-c": -2, "kill": -9}
