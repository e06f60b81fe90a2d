"""What the start-up safety checks cost: the MNIST digest check, the run folder's lock, and the
check of what a checkpoint names (what generate.py, evaluate.py and the API do before building it).

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
from ganlab.run_folders.lock import claim  # noqa: E402
from ganlab.run_folders.resolvers import project_root  # noqa: E402
from ganlab import trained_gan  # noqa: E402


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
            locked.append(timed(lambda: claim(Path(tmp) / f"locked{i}")))
            plain.append(timed(lambda: (Path(tmp) / f"plain{i}").mkdir()))
    files.SHA256 = pins
    targets_checked, targets_unchecked = checkpoint_rounds(args.rounds)
    for name, with_it, without in (("MNIST digests (train + test load)", checked, unchecked),
                                   ("run folder lock (vs mkdir)", locked, plain),
                                   ("a checkpoint's targets (load_gan of the book's GAN)", targets_checked,
                                    targets_unchecked)):
        extra = statistics.median(a - b for a, b in zip(with_it, without))
        print(f"{name}: {statistics.median(with_it) * 1000:.1f} ms with, {statistics.median(without) * 1000:.1f} ms "
              f"without; the check costs {extra * 1000:.1f} ms (median of {args.rounds} interleaved rounds)")


def checkpoint_rounds(rounds: int) -> tuple[list[float], list[float]]:
    """load_gan of a checkpoint of the default model, with and without checking what it names."""
    import lightning as L
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(Path(project_root()) / "conf"), version_base="1.3"):
        model = instantiate(compose(config_name="train").model)
    checked, unchecked, check = [], [], trained_gan.check_targets
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "last.ckpt"
        torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams), "global_step": 0,
                    "pytorch-lightning_version": L.__version__}, path)
        trained_gan.load_gan(path)  # imports and file in the page cache
        for _ in range(rounds):
            trained_gan.check_targets = check
            checked.append(timed(lambda: trained_gan.load_gan(path)))
            trained_gan.check_targets = lambda *args: None
            unchecked.append(timed(lambda: trained_gan.load_gan(path)))
        hparams = torch.load(path, weights_only=True)["hyper_parameters"]
    trained_gan.check_targets = check
    alone = [timed(lambda: check(hparams, "bench")) for _ in range(1000)]
    print(f"check_targets alone on that checkpoint: {statistics.median(alone) * 1e6:.0f} us (median of 1000 calls)")
    return checked, unchecked


if __name__ == "__main__":
    main()
