"""A read-only ``paths.data_dir`` (a shared data set mounted read-only, as clusters do): a complete
cache (MNIST, the evaluator, the real-data floor) is read without a lock or a byte written there,
and what would have to be written there is refused in one line before a run begins."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import filelock
import pytest

from ganlab.data.fetch import ensure_mnist
from ganlab.data.files import raw_dir
from ganlab.errors import UserError
from ganlab.evaluation import evaluate
from ganlab.metrics import load_evaluator
from ganlab.metrics.callback import SampleQualityMetrics
from ganlab.training import train
from conftest import QUICK_MIN_ACCURACY
from helpers import CPU, assert_says, run_command, tiny_run



def quality(num_samples: int = 100) -> list[str]:
    return ["eval_interval=5", f"callbacks.sample_quality.num_samples={num_samples}",
            f"+callbacks.sample_quality.min_evaluator_accuracy={QUICK_MIN_ACCURACY}"]


def refusal(data_dir: Path, what: str) -> tuple[str, ...]:
    """The refusal's key phrases: what must be written, where it cannot be, and what to do."""
    return what, f"{data_dir} cannot be written (Read-only file system)", "give paths.data_dir= a folder you can write"


@pytest.fixture
def read_only(tmp_path):
    """``read_only(folder)``: a read-only view of ``folder``, a read-only bind mount: the tests run as
    root here, whom no chmod stops, and a read-only mount is what a cluster's shared data is."""
    views = []

    def view(folder: Path) -> Path:
        mounted = folder.with_name(f"{folder.name}-read-only")
        mounted.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(folder), str(mounted)],
                                               capture_output=True).returncode != 0:
            pytest.skip("needs root and the right to mount (a read-only bind mount)")
        views.append(mounted)
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(mounted)], capture_output=True).returncode != 0:
            pytest.skip("needs the right to remount a bind mount read-only")
        return mounted

    yield view
    for mounted in reversed(views):
        subprocess.run(["umount", str(mounted)], check=True)


def data_dir_with(folder: Path, mnist_dir: Path, evaluator_from: Path | None = None) -> Path:
    """A data_dir of its own MNIST files and, if given, the evaluator cached in ``evaluator_from``
    (hard links: nothing is copied)."""
    shutil.copytree(mnist_dir / "MNIST", folder / "MNIST", copy_function=os.link)
    if evaluator_from is not None:
        (folder / "evaluator").mkdir()
        for name in ("mnist_classifier.pt", "mnist_classifier.json"):
            os.link(evaluator_from / "evaluator" / name, folder / "evaluator" / name)
    return folder


def listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_a_complete_cache_is_read_without_taking_a_lock(quick_evaluator_dir, monkeypatch):
    def read_only_folder(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")  # what a lock file meets there

    monkeypatch.setattr(filelock.FileLock, "acquire", read_only_folder)
    _, meta = load_evaluator(quick_evaluator_dir, min_accuracy=QUICK_MIN_ACCURACY)
    assert meta["test_accuracy"] >= QUICK_MIN_ACCURACY
    assert ensure_mnist(quick_evaluator_dir) == raw_dir(quick_evaluator_dir)


def test_training_and_evaluate_read_a_complete_cache_in_a_read_only_data_dir(tmp_path, mnist_dir,
                                                                           quick_evaluator_dir, read_only, caplog):
    data = data_dir_with(tmp_path / "data", mnist_dir, quick_evaluator_dir)
    evaluator = json.loads((data / "evaluator" / "mnist_classifier.json").read_text())["weights_sha256"]
    floor = {"evaluator_sha256": evaluator, "metrics": {"fid": 0.25}}  # as a run that could write cached it
    (data / "evaluator" / "real_floor_100.json").write_text(json.dumps(floor))
    shared, before = read_only(data), listing(data)

    metrics = train(tiny_run(tmp_path / "run", shared, *quality(), quality=True))
    assert math.isfinite(metrics["4_quality/fid"]) and metrics["floor/fid"] == 0.25, "the cached floor, read"
    report = evaluate(shared, ckpt_path=tmp_path / "run" / "checkpoints" / "last.ckpt", num_samples=100,
                      min_evaluator_accuracy=QUICK_MIN_ACCURACY)
    assert math.isfinite(report["metrics"]["fid"]) and math.isfinite(report["real_floor"]["fid"])
    assert listing(data) == before, "nothing was written into it"
    assert_says(caplog.text, "The reference's features are not cached (Read-only file system)",
                "give paths.data_dir= a folder you can write")


def test_a_floor_that_cannot_be_cached_is_scored_all_the_same_with_a_line(tmp_path, mnist_dir, quick_evaluator_dir,
                                                                         read_only, caplog):
    shared = read_only(data_dir_with(tmp_path / "data", mnist_dir, quick_evaluator_dir))
    callback = SampleQualityMetrics(str(shared), num_samples=120)
    callback.evaluator_sha256 = "the evaluator's sha256"
    callback.quality = SimpleNamespace(real_floor=lambda data_dir, n: {"fid": 0.5, "num_samples": n})  # its scores
    assert callback.real_floor() == {"fid": 0.5}
    assert_says(caplog.text, "The real-data floor is not cached (Read-only file system)", "scored again",
                "give paths.data_dir= a folder you can write")
    assert not (shared / "evaluator" / "real_floor_120.json").exists()


def test_what_must_be_written_into_a_read_only_data_dir_is_refused_in_one_line(tmp_path, mnist_dir, checkpoint,
                                                                              read_only):
    shared = read_only(data_dir_with(tmp_path / "data", mnist_dir))  # MNIST, but no evaluator
    not_cached = refusal(shared, f"No MNIST evaluator is cached in {shared / 'evaluator'}, so one must be trained there")
    done = run_command("train.py", *CPU, f"paths.data_dir={shared}", f"hydra.run.dir={tmp_path / 'run'}",
                       "trainer.max_steps=3")
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line or "Error" in line]
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-3000:]
    assert_says(lines[0], *not_cached)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists(), "the refused run leaves no folder"

    with pytest.raises(UserError) as refused:  # evaluate.py would train it too
        evaluate(shared, ckpt_path=checkpoint, num_samples=100)
    assert_says(str(refused.value), *not_cached)

    (tmp_path / "empty").mkdir()
    empty = read_only(tmp_path / "empty")
    with pytest.raises(UserError) as refused:
        ensure_mnist(empty)
    assert_says(str(refused.value), *refusal(empty, f"MNIST is not in {empty / 'MNIST' / 'raw'}, so it must be fetched there"))
