"""Screenshots of what a learner sees: TensorBoard's first screen (Time Series) and SCALARS page on
a run, a sweep's report.html, and a search's study in optuna-dashboard, in headless Chromium
(apt-get install chromium; pip install -e '.[dashboard]').

    python benchmarks/screenshots.py OUT_DIR [--run RUN_FOLDER] [--report SWEEP_FOLDER]
                                             [--dashboard STORAGE_URL] [--name PREFIX]
                                             [--report-size WIDTH,HEIGHT]

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


def serve(command: list[str], probe: str):
    """A server started on a free loopback port (``{port}`` in ``command``); returns it and its base url."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([c.format(port=port) for c in command], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}{probe}", timeout=2)
            return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"{command[0]} did not answer within a minute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--run", type=Path)
    parser.add_argument("--report", type=Path, help="a sweep folder with report.html (make report)")
    parser.add_argument("--dashboard", help="a search's storage, e.g. sqlite:///<sweep folder>/optuna.db")
    parser.add_argument("--name", default="", help="a prefix for the file names, e.g. before_")
    parser.add_argument("--report-size", default="1400,2200", help="the report's window, width,height in pixels")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("needs a headless Chromium: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.run:
        run = args.run.resolve()
        process, base = serve([sys.executable, "-m", "tensorboard.main", "--logdir_spec", f"{run.name}:{run}",
                               "--host", "127.0.0.1", "--port", "{port}"], "/data/runs")
        try:
            shoot(f"{base}/#timeseries", args.out / f"{args.name}tensorboard_first_screen.png")
            shoot(f"{base}/#scalars", args.out / f"{args.name}tensorboard_scalars.png")
        finally:
            process.terminate()
    if args.dashboard:
        dashboard = Path(sys.executable).parent / "optuna-dashboard"
        process, base = serve([str(dashboard), args.dashboard, "--host", "127.0.0.1", "--port", "{port}"], "/api/studies")
        try:
            shoot(f"{base}/dashboard/studies/1", args.out / f"{args.name}optuna_dashboard.png", "1400,1100")
        finally:
            process.terminate()
    if args.report:
        shoot((args.report.resolve() / "report.html").as_uri(), args.out / f"{args.name}report.png", args.report_size)


if __name__ == "__main__":
    main()
