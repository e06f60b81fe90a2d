"""Speed of the framework's real training path against a plain PyTorch loop, in one process.

    make bench                      # mlp on this machine's default device
    python benchmarks/speed.py --model dcgan --iterations 500 --accelerator gpu
    python benchmarks/speed.py --accelerator gpu --lines plain,graph --iterations 20000 --reference-iterations 2000

(a) a hand-written eager loop: the same nets, data in memory, the book's update order, torch's
    default Adam; (b) `src/train.py`'s trainer exactly as configured by default (logging every
    50 iterations, a sample grid every 1000, checkpoints every 5000, progress bar), built from the
    real Hydra config, except for the sample-quality evaluation (every 5000 iterations): it is
    timed on its own, as seconds per evaluation, since it is not a per-iteration cost. Prints
    iterations/s of each, the ratio (b)/(a), startup time to the first iteration, peak memory,
    and iterations/s against batch size. Also (a+), the plain loop given the framework's two
    arithmetic savings, so that (b)/(a+) shows what the framework's machinery itself costs, and
    on a GPU (c), the framework with ``model.acceleration=cuda_graph`` (the iteration as one CUDA graph).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # before torch and Lightning are imported: startup counts them

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

import lightning as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from ganlab.data import load_mnist, scale_pixels  # noqa: E402
from ganlab.training import build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Stopwatch(L.Callback):
    """Wall time from the first iteration's start to the last one's end."""

    def __init__(self):
        self.first = self.last = None
        self.iterations = 0

    def on_train_batch_start(self, *_):
        if self.first is None:
            self.first = time.perf_counter()

    def on_train_batch_end(self, trainer, *_):
        self.iterations += 1
        self.last = time.perf_counter()


def compose_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def framework(cfg_overrides: list[str], iterations: int, out: Path) -> tuple[float, float]:
    """(iterations/s, seconds from the start of the build to the first iteration)."""
    cfg = compose_cfg([*cfg_overrides, f"trainer.max_steps={iterations}", f"paths.output_dir={out}"])
    start = time.perf_counter()
    # Lightning's banner and progress bar go to stderr, the results to stdout
    with contextlib.redirect_stdout(sys.stderr):
        datamodule, model, trainer = build(cfg)
        watch = Stopwatch()
        trainer.callbacks.append(watch)
        trainer.fit(model, datamodule=datamodule)
    return (watch.iterations - 1) / (watch.last - watch.first), watch.first - start


def plain_loop(cfg_overrides: list[str], iterations: int, device: torch.device, tuned: bool = False) -> float:
    """The loop one would write by hand, for the same nets and the same update order.

    ``tuned`` gives it the framework's own two savings (fused Adam; D frozen while G's loss is
    backpropagated, so D's weight gradients are not computed): the same arithmetic as (b), so
    (b) against it is what Lightning and the callbacks cost.
    """
    cfg = compose_cfg(cfg_overrides)
    images = scale_pixels(load_mnist(cfg.paths.data_dir)[0]).to(device)
    G = instantiate(cfg.model.generator).to(device)
    D = instantiate(cfg.model.discriminator).to(device)
    adam = {"lr": cfg.model.optimizer_g.lr, "betas": tuple(cfg.model.optimizer_g.betas), "eps": cfg.model.optimizer_g.eps}
    if tuned:
        adam["fused"] = True
    opt_g, opt_d = torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam)
    batch = cfg.data.batch_size
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)

    def iteration():
        real = images[torch.randint(len(images), (batch,), device=device)]
        with torch.no_grad():
            fake = G(torch.randn(batch, G.z_dim, device=device))
        for x, y in ((real, ones), (fake, zeros)):
            opt_d.zero_grad()
            F.binary_cross_entropy_with_logits(D(x), y).backward()
            opt_d.step()
        opt_g.zero_grad()
        D.requires_grad_(not tuned)
        F.binary_cross_entropy_with_logits(D(G(torch.randn(batch, G.z_dim, device=device))), ones).backward()
        D.requires_grad_(True)
        opt_g.step()

    # Importing Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1, which makes each torch optimizer
    # step reload NVML (see training._skip_per_step_cuda_probe). A hand-written loop does not
    # import Lightning, so it is timed without that setting.
    with mock.patch.dict(os.environ, PYTORCH_NVML_BASED_CUDA_CHECK="0"):
        for _ in range(min(50, iterations)):
            iteration()
        _sync(device)
        start = time.perf_counter()
        for _ in range(iterations):
            iteration()
        _sync(device)
        return iterations / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory() -> str:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    text = f"peak RSS {rss:.0f} MiB"
    if torch.cuda.is_available():
        text += f", peak GPU {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--iterations", type=int, default=2000, help="per framework measurement")
    parser.add_argument("--reference-iterations", type=int, help="per plain-loop measurement (default: --iterations)")
    parser.add_argument("--lines", help="what to measure, from plain,tuned,eager,graph (default: "
                        "plain,tuned,eager on a CPU, and graph on a GPU)")
    parser.add_argument("--rounds", type=int, default=3, help="(a)/(b) pairs, interleaved; medians are shown")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--batch-sizes", default="32,64,128,256,512")
    parser.add_argument("--table-iterations", type=int, default=500)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for both paths")
    args = parser.parse_args()

    device = torch.device("cuda" if args.accelerator == "gpu" else args.accelerator)
    common = [f"model={args.model}", f"trainer.accelerator={args.accelerator}", "callbacks.sample_quality=null",
              *args.overrides]
    print(f"# {platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, lightning {L.__version__}, device {device}")
    if device.type == "cuda":
        print(f"# GPU: {torch.cuda.get_device_name()}")

    lines = (args.lines or ("plain,tuned,eager,graph" if device.type == "cuda" else "plain,tuned,eager")).split(",")
    unknown = set(lines) - set(LINES)
    if unknown:
        parser.error(f"--lines: unknown {sorted(unknown)}; choose from {','.join(LINES)}")
    reference_iterations = args.reference_iterations or args.iterations

    with tempfile.TemporaryDirectory() as tmp:
        # Interleaved rounds: this kind of machine's speed drifts by tens of percent over a
        # minute, so (a) and (b) are measured side by side and compared round by round.
        rates: dict[str, list[float]] = {line: [] for line in lines}
        startups = []
        for r in range(args.rounds):
            for line in lines:
                if line == "plain":
                    rate = plain_loop(common, reference_iterations, device)
                elif line == "tuned":
                    rate = plain_loop(common, reference_iterations, device, tuned=True)
                else:
                    rate, startup = framework(_with_line(common, line), args.iterations, Path(tmp) / f"{line}{r}")
                    startups.append(startup)
                rates[line].append(rate)
        print(f"\nmodel={args.model} batch={compose_cfg(common).data.batch_size} iterations={args.iterations} "
              f"(plain loop {reference_iterations}) rounds={args.rounds} (median [min-max])")
        for line in lines:
            print(f"  {LINES[line]:<40} {_spread(rates[line])} it/s"
                  + (f" ({args.iterations / statistics.median(rates[line]):.1f} s per {args.iterations})"
                     if line in ("eager", "graph") else ""))
        notes = {"tuned": "  (what Lightning and the callbacks cost)"}
        for line, base in (("eager", "plain"), ("graph", "plain"), ("eager", "tuned")):
            if line in rates and base in rates:
                ratio = _spread([b / a for a, b in zip(rates[base], rates[line])], ".2f")
                print(f"  ratio {SHORT[line]}/{SHORT[base]}".ljust(43) + ratio + notes.get(base, ""))
        if startups:
            print(f"  startup: {IMPORTS:.1f} s of imports, then {startups[0]:.1f} s to the first iteration "
                  f"(build, MNIST into memory, Lightning setup)")
        print(f"  {peak_memory()}")

        batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
        framework_lines = [line for line in ("eager", "graph") if line in lines]
        if batch_sizes and framework_lines:
            print("\nbatch  " + "".join(f"{line + ' it/s':>12}  {'images/s':>9}" for line in framework_lines)
                  + "  plain it/s  " + "  ".join(f"{line}/plain" for line in framework_lines))
        for batch in batch_sizes if framework_lines else ():
            sized = [*common, f"data.batch_size={batch}"]
            measured = [framework(_with_line(sized, line), args.table_iterations, Path(tmp) / f"{line}-b{batch}")[0]
                        for line in framework_lines]
            plain = plain_loop(sized, args.table_iterations, device)
            print(f"{batch:5d}  " + "".join(f"{rate:12.1f}  {rate * batch:9.0f}" for rate in measured)
                  + f"  {plain:10.1f}  " + "  ".join(f"{rate / plain:{len(line) + 6}.2f}"
                                                      for rate, line in zip(measured, framework_lines)))

    print(f"\nsample-quality evaluation (10,000 samples): {evaluation_seconds(common, device)}")


def evaluation_seconds(overrides: list[str], device: torch.device) -> str:
    """Seconds for one evaluation of 10,000 samples, with the cached evaluator (not trained here)."""
    from ganlab.metrics.callback import SampleQualityMetrics
    from ganlab.metrics.evaluator_cache import METADATA_NAME, cache_dir

    cfg = compose_cfg(overrides)
    if not (cache_dir(cfg.paths.data_dir) / METADATA_NAME).is_file():
        return "skipped (no cached evaluator; `make evaluator` trains it)"
    model = instantiate(cfg.model).to(device)
    callback = SampleQualityMetrics(cfg.paths.data_dir)
    trainer = L.Trainer(accelerator=cfg.trainer.accelerator, logger=False, max_steps=1, enable_progress_bar=False)
    start = time.perf_counter()
    callback.setup(trainer, model, "fit")
    setup = time.perf_counter() - start
    times = []
    for _ in range(2):
        start = time.perf_counter()
        callback.evaluate(trainer, model)
        times.append(time.perf_counter() - start)
    return f"{min(times):.1f} s each (generation + scoring), after {setup:.1f} s once to load the evaluator and reference"


LINES = {
    "plain": "(a) plain PyTorch loop",
    "tuned": "(a+) plain loop, fused Adam, frozen D",
    "eager": "(b) framework (train.py)",
    "graph": "(c) framework, model.acceleration=cuda_graph",
}

SHORT = {line: label.split()[0] for line, label in LINES.items()}


def _with_line(overrides: list[str], line: str) -> list[str]:
    """The framework's overrides for one of its lines: (c) is (b) with the CUDA graph."""
    if line == "graph":
        return [*overrides, "model.acceleration=cuda_graph"]
    return overrides


def _spread(values: list[float], fmt: str = ".1f") -> str:
    return f"{statistics.median(values):7{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


IMPORTS = time.perf_counter() - T0

if __name__ == "__main__":
    sys.exit(main())
