"""What TensorBoard itself serves for a run: a real `tensorboard` process on loopback, asked
through its HTTP data API (the JSON its pages are drawn from), and, where Chromium is installed,
its pages in a headless browser."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tensorboard(checkpoint):
    """A tensorboard serving the shared 5-iteration run; yields (base url, run name)."""
    run_dir = checkpoint.parent.parent
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(run_dir.parent),
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
        yield base, run_dir.name
    finally:
        process.terminate()
        process.wait(timeout=30)


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
    assert {"train/d_loss", "train/g_loss", "train/d_accuracy", "confusion/true_positive",
            "final/d_loss"} <= set(scalar_tags)
    points = get(f"{base}/data/plugin/scalars/scalars?run={run}&tag=train/d_loss")
    assert [p[1] for p in points] == [2, 4, 5]  # every 2nd iteration and the last (step is the 2nd field)
    assert "samples" in get(f"{base}/data/plugin/images/tags")[run]
    experiment = get(f"{base}/data/plugin/hparams/experiment", {"experimentName": ""})
    columns = [h["name"] for h in experiment["hparamInfos"]]  # TensorBoard sorts them by name
    assert {"data.batch_size", "model", "loss", "model.optimizer_g.lr", "seed"} <= set(columns)
    assert not [c for c in columns if "_target_" in c or "path" in c]
    assert {m["name"]["tag"] for m in experiment["metricInfos"]} >= {"final/d_loss", "final/g_loss"}


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (apt-get install chromium)")
@pytest.mark.parametrize("tab", ["scalars", "images", "hparams"])
def test_the_pages_show_the_run_in_a_browser(tensorboard, tmp_path, tab):
    base, run = tensorboard
    shot = Path(__file__).resolve().parents[1] / "logs" / "screenshots" / f"tensorboard_{tab}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
                           "--window-size=1400,1000", "--dump-dom", f"{base}/#{tab}"],
                          capture_output=True, text=True, timeout=120).stdout
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
                    "--window-size=1400,1000", f"--screenshot={shot}", f"{base}/#{tab}"],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000, "a screenshot was kept"
    expected = {"scalars": "train", "images": "samples", "hparams": "data.batch_size"}[tab]
    assert expected in page, f"the {tab} page shows {expected!r}"
