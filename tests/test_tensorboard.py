"""What TensorBoard itself serves for a run: a real `tensorboard` process on loopback, asked
through its HTTP data API (the JSON its pages are drawn from), and, where Chromium is installed,
its pages in a headless browser."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ganlab.reporting.tensorboard import read_scalars
from ganlab.training import train


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(logdir: Path):
    """A tensorboard process serving ``logdir`` on loopback; yields its base url."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                                "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/data/runs", timeout=2)
            break
        except OSError:
            assert process.poll() is None, process.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "tensorboard did not answer within 60 s"
            time.sleep(0.3)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def tensorboard(checkpoint, tmp_path_factory):
    """A tensorboard serving (a copy of) the shared 5-iteration run; yields (base url, run name)."""
    logdir = tmp_path_factory.mktemp("tensorboard")
    shutil.copytree(checkpoint.parent.parent, logdir / "run")
    yield from ((base, "run") for base in serve(logdir))


def get(url: str, data: dict | None = None):
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json",
                                                              "X-TensorBoard-Version": "1"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_tensorboard_serves_the_runs_scalars_images_and_hparams(tensorboard):
    base, run = tensorboard
    assert run in get(f"{base}/data/runs")
    scalar_tags = get(f"{base}/data/plugin/scalars/tags")[run]
    assert {"1_losses/d_loss", "1_losses/g_loss", "2_discriminator/accuracy", "3_confusion/true_positive",
            "final/d_loss"} <= set(scalar_tags)
    assert scalar_tags["1_losses/d_loss"]["description"].startswith("<p>D's loss"), "shown on the chart as markdown"
    points = get(f"{base}/data/plugin/scalars/scalars?run={run}&tag=1_losses/d_loss")
    assert [p[1] for p in points] == [2, 4, 5]  # every 2nd iteration and the last (step is the 2nd field)
    assert "samples" in get(f"{base}/data/plugin/images/tags")[run]
    experiment = get(f"{base}/data/plugin/hparams/experiment", {"experimentName": ""})
    columns = [h["name"] for h in experiment["hparamInfos"]]  # TensorBoard sorts them by name
    assert {"data.batch_size", "model", "loss", "model.optimizer_g.lr", "seed"} <= set(columns)
    assert not [c for c in columns if "_target_" in c or "path" in c]
    assert {m["name"]["tag"] for m in experiment["metricInfos"]} >= {"final/d_loss", "final/g_loss"}


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "logs" / "screenshots"


def browse(url: str, screenshot: Path | None = None) -> str:
    """The page's DOM after 20 s of (virtual) time in headless Chromium; a screenshot if asked."""
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
             "--window-size=1400,1000"]
    if screenshot is not None:
        subprocess.run([*flags, f"--screenshot={screenshot}", url], capture_output=True, timeout=120)
    return subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout


@pytest.fixture(scope="module")
def empty_tensorboard(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("empty"))


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (apt-get install chromium)")
def test_the_time_series_page_shows_the_runs_charts_and_grids(tensorboard):
    base, _ = tensorboard
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browse(f"{base}/#timeseries", SCREENSHOTS / "tensorboard_timeseries.png")
    assert "samples" in page, "the sample grid's card"
    groups = [page.find(group) for group in ("1_losses", "2_discriminator", "3_confusion", "final")]
    assert -1 not in groups and groups == sorted(groups), "the game first, then D's view, then the HPARAMS columns"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (apt-get install chromium)")
@pytest.mark.parametrize("tab", ["scalars", "images", "hparams"])
def test_the_scalars_images_and_hparams_pages_draw_the_run(tensorboard, empty_tensorboard, tab):
    """These dashboards draw inside shadow DOM, which a DOM dump does not show: each page is
    compared, as pixels, with the same page of a tensorboard that has no run. The screenshots are
    kept in logs/screenshots/ to look at."""
    from PIL import Image, ImageChops, ImageStat

    base, _ = tensorboard
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot, empty = SCREENSHOTS / f"tensorboard_{tab}.png", SCREENSHOTS / f"tensorboard_{tab}_no_runs.png"
    browse(f"{base}/#{tab}", shot)
    browse(f"{empty_tensorboard}/#{tab}", empty)
    with Image.open(shot) as a, Image.open(empty) as b:
        difference = ImageStat.Stat(ImageChops.difference(a.convert("L"), b.convert("L"))).mean[0]
    assert difference > 5, f"the {tab} page with the run looks like the page without runs"


def test_custom_scalars_lay_out_the_game_first(make_train_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2

    train(make_train_cfg("trainer.max_steps=2", "trainer.log_every_n_steps=1"))
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    (config,) = acc.Tensors("custom_scalars__config__")  # where TensorBoard's custom scalars plugin reads it
    layout = layout_pb2.Layout.FromString(config.tensor_proto.string_val[0])
    assert [c.title for c in layout.category] == ["1. The game", "2. D's view", "3. Sample quality", "4. Speed"]
    losses = layout.category[0].chart[0].multiline.tag
    logged = read_scalars(tmp_path)
    assert all(any(re.match(pattern, tag) for tag in logged) for pattern in losses), "the patterns find the tags"
