"""Screenshots of what a learner sees: TensorBoard's first screen (Time Series) and SCALARS page on
a run, and a sweep's report.html, in headless Chromium (apt-get install chromium).

    python benchmarks/screenshots.py OUT_DIR --run RUN_FOLDER [--report SWEEP_FOLDER] [--name PREFIX]

TensorBoard is started as the run's summary prints it (``--logdir_spec <folder name>:<folder>``).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def shoot(url: str, out: Path, size: str = "1400,1000") -> None:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--virtual-time-budget=20000", f"--window-size={size}", f"--screenshot={out}", url],
                   capture_output=True, timeout=180, check=True)
    print(out)


def tensorboard(run: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir_spec", f"{run.name}:{run}",
                                "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/data/runs", timeout=2)
            return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("tensorboard did not answer within a minute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--run", type=Path)
    parser.add_argument("--report", type=Path, help="a sweep folder with report.html (make report)")
    parser.add_argument("--name", default="", help="a prefix for the file names, e.g. before_")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("needs a headless Chromium: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.run:
        process, base = tensorboard(args.run.resolve())
        try:
            shoot(f"{base}/#timeseries", args.out / f"{args.name}tensorboard_first_screen.png")
            shoot(f"{base}/#scalars", args.out / f"{args.name}tensorboard_scalars.png")
        finally:
            process.terminate()
    if args.report:
        shoot((args.report.resolve() / "report.html").as_uri(), args.out / f"{args.name}report.png", "1400,2200")


if __name__ == "__main__":
    main()
