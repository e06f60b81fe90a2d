"""The GPU paths: the whole iteration as a CUDA graph, and no waits for the GPU between log
iterations. Skipped without a CUDA GPU (benchmarks/gpu_check.sh runs them on one)."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from ganlab.models import GAN
from helpers import fit, scalars

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=mlp"],
        ["model=dcgan", "trainer.precision=bf16-mixed"],
        ["experiment=best"],  # cGAN, EMA
        ["experiment=wgan_gp"],  # critic steps, double backward
        ["experiment=best", "model.augment=[translation,cutout]", "model.discriminator.minibatch_std=true"],
    ],
    ids=["mlp", "dcgan-bf16", "best", "wgan_gp", "augment-mbstd"],
)
def test_cuda_graph_trains_like_eager(make_train_cfg, tmp_path, overrides, monkeypatch):
    """Warm-up, capture and replays give the eager run's weights exactly, count every iteration
    and log. Deterministic algorithms, since cuDNN's autotuner may pick other kernels (with other
    rounding) in each of the two runs."""
    common = [*overrides, "trainer.accelerator=gpu", "trainer.max_steps=12", "trainer.log_every_n_steps=4",
              "data.batch_size=32", "trainer.deterministic=true", "trainer.benchmark=false"]
    eager, _ = fit(make_train_cfg(*common, output_dir=tmp_path / "eager"))
    calls = []
    iteration = GAN.iteration
    monkeypatch.setattr(GAN, "iteration", lambda *args: calls.append(1) or iteration(*args))
    graphed, trainer = fit(make_train_cfg(*common, "model.acceleration=cuda_graph", output_dir=tmp_path / "graph"))
    assert len(calls) == 4, "3 warm-up iterations and the recording run the Python code; the rest are replays"
    assert trainer.global_step == 12
    (eager_steps, eager_losses), (graph_steps, graph_losses) = (
        zip(*scalars(tmp_path / run, "1_losses/d_loss")) for run in ("eager", "graph")
    )
    assert graph_steps == eager_steps == (4, 8, 12)
    diffs = {
        name: (p.float() - q.float()).abs().max().item()
        for (name, p), q in zip(eager.state_dict().items(), graphed.state_dict().values())
    }
    print(f"cuda graph vs eager, {'/'.join(overrides)}: largest weight difference {max(diffs.values()):.2e}")
    assert graph_losses == eager_losses
    assert all(d == 0 for d in diffs.values()), {name: d for name, d in diffs.items() if d}


class NoSyncWindow(L.Callback):
    """Makes any wait for the GPU an error between two iterations (torch's sync debug mode)."""

    def __init__(self, start: int, stop: int):
        self.start, self.stop = start, stop

    def on_train_batch_start(self, trainer, *_):
        if trainer.global_step == self.start:
            torch.cuda.set_sync_debug_mode("error")

    def on_train_batch_end(self, trainer, *_):
        if trainer.global_step == self.stop:
            torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
def test_no_waits_for_the_gpu_between_log_iterations(make_train_cfg, graph):
    cfg = make_train_cfg("experiment=best", "trainer.accelerator=gpu", "trainer.max_steps=40",
                         "trainer.log_every_n_steps=40", "sample_interval=1000", "checkpoint_interval=1000",
                         f"model.acceleration={'cuda_graph' if graph else 'eager'}")
    try:
        _, trainer = fit(cfg, NoSyncWindow(start=6, stop=38))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert trainer.global_step == 40
