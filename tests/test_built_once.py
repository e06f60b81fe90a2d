"""conftest.built_once: the session's read-only fixtures are built by one xdist worker and reused
by the others; a failed build is not reused."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import built_once


def workers_of_one_session(tmp_path: Path):
    """tmp_path_factory as each xdist worker of one session sees it: its own base folder, one parent."""
    return [SimpleNamespace(getbasetemp=lambda worker=worker: tmp_path / f"popen-{worker}") for worker in ("gw0", "gw1")]


def test_the_second_worker_reuses_the_first_workers_folder(tmp_path):
    (gw0, gw1), builds = workers_of_one_session(tmp_path), []

    def build(folder):
        builds.append(folder)
        (folder / "made").write_text(str(len(builds)))

    first = built_once(gw0, "gw0", "shared", build)
    second = built_once(gw1, "gw1", "shared", build)
    assert first == second == tmp_path / "shared" and builds == [first] and (first / "made").read_text() == "1"


def test_a_failed_build_is_built_again_by_the_next_worker(tmp_path):
    gw0, gw1 = workers_of_one_session(tmp_path)

    def fails(folder):
        (folder / "half").write_text("")
        raise RuntimeError("the build failed")

    with pytest.raises(RuntimeError, match="the build failed"):
        built_once(gw0, "gw0", "shared", fails)
    folder = built_once(gw1, "gw1", "shared", lambda folder: (folder / "whole").write_text(""))
    assert sorted(p.name for p in folder.iterdir()) == ["whole"], "nothing of the failed build is reused"


def test_without_xdist_each_session_builds_its_own(tmp_path_factory):
    builds = []
    folder = built_once(tmp_path_factory, "master", "own", builds.append)
    assert builds == [folder] and folder.parent == tmp_path_factory.getbasetemp()
