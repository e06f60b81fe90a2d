"""conftest.built_once: the session's read-only fixtures are built by one xdist worker and reused
by the others; a failed build is not reused."""

from __future__ import annotations

import uuid

import pytest

from conftest import built_once


def test_the_second_worker_reuses_the_first_workers_folder(tmp_path_factory):
    name, builds = f"shared-{uuid.uuid4().hex}", []

    def build(folder):
        builds.append(folder)
        (folder / "made").write_text(str(len(builds)))

    first = built_once(tmp_path_factory, "gw0", name, build)
    second = built_once(tmp_path_factory, "gw1", name, build)
    assert first == second and builds == [first] and (first / "made").read_text() == "1"
    assert first.parent == tmp_path_factory.getbasetemp().parent, "where every worker of this session looks"


def test_a_failed_build_is_built_again_by_the_next_worker(tmp_path_factory):
    name = f"shared-{uuid.uuid4().hex}"

    def fails(folder):
        (folder / "half").write_text("")
        raise RuntimeError("the build failed")

    with pytest.raises(RuntimeError, match="the build failed"):
        built_once(tmp_path_factory, "gw0", name, fails)
    folder = built_once(tmp_path_factory, "gw1", name, lambda folder: (folder / "whole").write_text(""))
    assert sorted(p.name for p in folder.iterdir()) == ["whole"], "nothing of the failed build is reused"


def test_without_xdist_each_session_builds_its_own(tmp_path_factory):
    builds = []
    folder = built_once(tmp_path_factory, "master", "own", builds.append)
    assert builds == [folder] and folder.parent == tmp_path_factory.getbasetemp()
