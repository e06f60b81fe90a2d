"""A full disk (or a folder that cannot be written) at any file a run or a command writes: one line
naming the file and the fix, exit code 1, and no 0-byte or partial file left. Checkpoints have
their own tests (test_checkpoints.py); these are the pictures, the report and generate.py's files.

Each case is tested twice: with the file system's error raised where the writing library meets it
(always runs), and on a real small file system (a tmpfs, where the tests may mount one)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from ganlab.errors import UserError
from ganlab.evaluation import write_scores
from ganlab.generation import check_request, generate, stream_npy, write_images
from ganlab.reporting.sweep_page import write_page
from ganlab.trained_gan import load_gan
from ganlab.training import train
from helpers import QUIET, assert_says, fill, run_command

# What to do, by its key phrases, after a full disk: in a run, at a command's out=, in the report
RUN_FIX = ("Free some space", "paths.log_dir", "resume with ckpt_path=auto")
OUT_FIX = ("Free some space", "give out= a path on a disk that has it")
REPORT_FIX = ("Free some space", "write the report again")


def no_room(name: str, folder: Path) -> str:
    """What went wrong, by its key phrase."""
    return f"could not write {name} into {folder}: No space left on device"


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def target_name(fp) -> str:
    return Path(str(getattr(fp, "name", fp))).name


def fails_for(real_save, name: str):
    """``real_save`` (PIL's or matplotlib's), except for a file whose name holds ``name``: there it
    does what it does on a full disk (a few bytes go out, then ENOSPC)."""

    def save(self, fp, *args, **kwargs):
        if name not in target_name(fp):
            return real_save(self, fp, *args, **kwargs)
        file = open(fp, "wb") if isinstance(fp, (str, os.PathLike)) else fp  # both libraries open a path given
        file.write(b"\x89PNG\r\n")
        no_space()

    return save


def written(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_a_full_disk_at_a_sample_grid_stops_the_run_in_one_line_and_leaves_no_png(make_train_cfg, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setattr(Image.Image, "save", fails_for(Image.Image.save, "iter_000005.png"))
    with pytest.raises(UserError) as stop:
        train(make_train_cfg("trainer.max_steps=7"))
    samples = tmp_path / "samples"
    assert_says(str(stop.value), no_room("iter_000005.png", samples), *RUN_FIX)
    assert written(samples) == [], "no 0-byte or partial grid"


@pytest.mark.parametrize(("name", "library"), [("training.gif", "PIL"), ("training_curves.png", "matplotlib")])
def test_a_full_disk_at_the_end_of_training_is_one_line_naming_the_file(make_train_cfg, tmp_path, monkeypatch,
                                                                        name, library):
    if library == "PIL":
        monkeypatch.setattr(Image.Image, "save", fails_for(Image.Image.save, name))
    else:
        monkeypatch.setattr(Figure, "savefig", fails_for(Figure.savefig, name))
    with pytest.raises(UserError) as stop:
        train(make_train_cfg("trainer.max_steps=7"))
    folder = tmp_path / "samples" if name.endswith(".gif") else tmp_path
    assert_says(str(stop.value), no_room(name, folder), *RUN_FIX)
    assert not [f for f in written(tmp_path) if name in f], "no partial file"
    for grid in (tmp_path / "samples").glob("iter_*.png"):
        Image.open(grid).verify()  # the grids before it are whole


def test_a_real_full_disk_at_a_sample_grid(make_train_cfg, small_filesystem):
    disk = small_filesystem("1m")
    fill(disk)
    with pytest.raises(UserError) as stop:
        train(make_train_cfg("trainer.max_steps=7", f"callbacks.sample_grid.dirpath={disk / 'samples'}"))
    assert str(stop.value).startswith(f"could not write iter_000005.png into {disk / 'samples'}: No space left")
    assert written(disk) == ["filler"], "no 0-byte or partial grid"


@pytest.mark.slow  # a subprocess run; the same path is tested in-process above
def test_a_real_full_disk_at_a_sample_grid_is_one_line_and_exit_1(small_filesystem, mnist_dir, tmp_path):
    disk = small_filesystem("1m")
    fill(disk)
    done = run_command("train.py", *QUIET, f"paths.data_dir={mnist_dir}", f"hydra.run.dir={tmp_path / 'run'}",
                       "trainer.max_steps=7", "sample_interval=5", f"callbacks.sample_grid.dirpath={disk / 'samples'}")
    assert done.returncode == 1, done.stderr[-2000:]
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line or "Error" in line]
    assert len(lines) == 1 and "could not write iter_000005.png" in lines[0], done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert written(disk) == ["filler"]


def npy_refusal(out: Path, n: int, free: int) -> tuple[str, ...]:
    """The refusal's key phrases: what does not fit where, and what to do."""
    size = 128 + n * 28 * 28 * 4  # np.save's header for this shape, then float32 pixels
    return (f"out={out}: {n:,} images take {size:,} bytes", f"{out.parent} has {free:,} bytes free", "Free some space",
            "give out= a path on a disk that has room")


def test_an_npy_too_big_for_its_disk_is_refused_before_the_checkpoint_is_read(tmp_path, monkeypatch):
    real_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real_usage(path)._replace(free=5 << 20))
    with pytest.raises(UserError) as refused:
        check_request(100_000, None, str(tmp_path / "s.npy"))
    assert_says(str(refused.value), *npy_refusal(tmp_path / "s.npy", 100_000, 5 << 20))
    check_request(1000, None, str(tmp_path / "s.npy"))  # 3 MB fits
    monkeypatch.undo()
    with pytest.raises(UserError, match=r"100,000,000,000 images take 313,600,000,000,128 bytes"):
        check_request(100_000_000_000, None, str(tmp_path / "s.npy"))  # bounded by the disk, not the memory


@pytest.mark.slow  # a real tmpfs; the refusal itself is tested fast without a mount
def test_generate_on_a_real_5_mb_disk_is_refused_in_one_line(checkpoint, small_filesystem):
    disk = small_filesystem("5m")
    free = shutil.disk_usage(disk).free
    for n in (100_000, 100_000_000_000):
        done = run_command("generate.py", f"ckpt_path={checkpoint}", f"n={n}", f"out={disk / 's.npy'}")
        output = (done.stdout + done.stderr).strip().splitlines()
        assert done.returncode == 1, (done.returncode, output[-20:])
        assert len(output) == 1, output[-20:]
        assert_says(output[0], *npy_refusal(disk / "s.npy", n, free))
        assert written(disk) == []


def test_a_disk_that_fills_while_the_npy_is_written_leaves_nothing(checkpoint, small_filesystem, monkeypatch):
    disk = small_filesystem("1m")
    real_usage = shutil.disk_usage  # as if it had room when it was checked, and another writer took it since
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real_usage(path)._replace(free=1 << 40))
    with pytest.raises(UserError) as stop:
        stream_npy(load_gan(checkpoint), 1000, disk / "s.npy")  # 3 MB into 1 MB
    assert_says(str(stop.value), no_room("s.npy", disk), *OUT_FIX)
    assert written(disk) == []


def test_a_full_disk_while_generating_or_scoring_is_one_line_and_leaves_nothing(checkpoint, tmp_path, monkeypatch):
    model = load_gan(checkpoint)
    images = generate(model, 16)
    monkeypatch.setattr(os, "fsync", no_space)  # where a full disk shows when the file system writes lazily
    for out, write in ((tmp_path / "s.npy", lambda out: stream_npy(model, 100, out)),
                       (tmp_path / "small.npy", lambda out: write_images(images, out)),
                       (tmp_path / "grid.png", lambda out: write_images(images, out)),
                       (tmp_path / "s.metrics.json", lambda out: write_scores({"fid": 1.0}, out))):  # evaluate.py's
        with pytest.raises(UserError) as stop:
            write(out)
        assert_says(str(stop.value), no_room(out.name, tmp_path), *OUT_FIX)
    assert written(tmp_path) == []


def test_npy_noise_is_drawn_batch_by_batch_with_the_same_images(checkpoint, tmp_path, monkeypatch):
    model = load_gan(checkpoint)
    expected = generate(model, 501, seed=4, batch_size=7).squeeze(1).numpy()
    rows, real_randn = [], torch.randn

    def recording(*size, **kwargs):
        rows.append(size[0])
        return real_randn(*size, **kwargs)

    monkeypatch.setattr(torch, "randn", recording)
    path = stream_npy(model, 501, tmp_path / "s.npy", seed=4, batch_size=7)
    assert max(rows) <= 16, "memory holds about one batch of noise, whatever n is"
    assert np.array_equal(np.load(path), expected), "the same images as drawing all the noise at once"


@pytest.fixture
def run_to_report(checkpoint, tmp_path) -> Path:
    """The shared run's TensorBoard record and grids, with the Hydra record a report looks for."""
    run = tmp_path / "run"
    shutil.copytree(checkpoint.parent.parent, run, ignore=shutil.ignore_patterns("checkpoints"))
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text("trainer:\n  max_steps: 5\n")
    return run


def test_a_full_disk_while_writing_the_report_is_one_line(run_to_report, monkeypatch):
    monkeypatch.setattr(Figure, "savefig", fails_for(Figure.savefig, "report_curves.png"))
    with pytest.raises(UserError) as stop:
        write_page(run_to_report)
    assert_says(str(stop.value), no_room("report_curves.png", run_to_report), *REPORT_FIX)
    monkeypatch.undo()
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(UserError, match=f"could not write report_curves.png into {run_to_report}: No space left"):
        write_page(run_to_report)
    assert not [f for f in written(run_to_report) if "report" in f], "no partial page or plot"


@pytest.mark.slow  # a real tmpfs; the in-process report test covers the path
def test_the_report_on_a_real_full_disk_is_one_line_and_exit_1(run_to_report, small_filesystem):
    disk = small_filesystem("2m")
    shutil.copytree(run_to_report, disk / "run")
    fill(disk)
    done = run_command("report.py", str(disk / "run"))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert_says(line, no_room("report_curves.png", disk / "run"), *REPORT_FIX)
    assert not [f for f in written(disk) if "report" in f]
