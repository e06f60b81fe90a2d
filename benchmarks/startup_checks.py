"""What the start-up safety checks cost: the MNIST digest check and the run folder's lock.

    python benchmarks/startup_checks.py [--rounds 5]

Prints, for each, the time with and without it, interleaved round by round (this VM's speed drifts),
and the median of the differences. The MNIST files are read from the page cache after round one,
as they are for every run but the first after a reboot.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ganlab.data import files  # noqa: E402
from ganlab.data.mnist import load_mnist  # noqa: E402
from ganlab.run_folders import project_root  # noqa: E402
from ganlab.safety import run_folder  # noqa: E402


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", default=str(Path(project_root()) / "data"))
    args = parser.parse_args()
    pins = dict(files.SHA256)
    load_mnist(args.data_dir, "train")  # fetched and in the page cache
    checked, unchecked, locked, plain = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            files.SHA256 = pins
            checked.append(timed(lambda: (load_mnist(args.data_dir, "train"), load_mnist(args.data_dir, "test"))))
            files.SHA256 = {}
            unchecked.append(timed(lambda: (load_mnist(args.data_dir, "train"), load_mnist(args.data_dir, "test"))))
            locked.append(timed(lambda: run_folder.claim(Path(tmp) / f"locked{i}")))
            plain.append(timed(lambda: (Path(tmp) / f"plain{i}").mkdir()))
    files.SHA256 = pins
    for name, with_it, without in (("MNIST digests (train + test load)", checked, unchecked),
                                   ("run folder lock (vs mkdir)", locked, plain)):
        extra = statistics.median(a - b for a, b in zip(with_it, without))
        print(f"{name}: {statistics.median(with_it) * 1000:.1f} ms with, {statistics.median(without) * 1000:.1f} ms "
              f"without; the check costs {extra * 1000:.1f} ms (median of {args.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
