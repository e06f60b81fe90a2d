from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.errors import UserError
from ganlab.generation import check_request, digits, generate, interpolation, slerp, stream_npy, write_images
from ganlab.trained_gan import load_gan
from ganlab.training import train
from helpers import ROOT, run_command, tiny_run


def test_checkpoint_rebuilds_the_trained_generator(checkpoint):
    rng = torch.get_rng_state()
    model = load_gan(checkpoint)
    assert torch.equal(rng, torch.get_rng_state()), "loading to sample must leave the RNG alone"
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    torch.testing.assert_close(model.generator.net[0].weight, state["generator.net.0.weight"])
    assert not model.training


def test_npy_holds_50000_samples_in_range(checkpoint, tmp_path):
    images = generate(load_gan(checkpoint), 50_000, seed=0)
    path = write_images(images, tmp_path / "samples.npy")
    samples = np.load(path)
    assert samples.shape == (50_000, 28, 28) and samples.dtype == np.float32
    assert samples.min() >= -1 and samples.max() <= 1
    assert not list(tmp_path.glob(".*partial*")), "no temporary file left behind"


def test_png_is_a_square_grid(checkpoint, tmp_path):
    path = write_images(generate(load_gan(checkpoint), 64), tmp_path / "grid.png")
    # 8 x 8 images of 28 px with 2 px padding (242 px), each pixel shown 3 times: at least 512 px to judge
    assert Image.open(path).size == (3 * (8 * 30 + 2), 3 * (8 * 30 + 2))


def test_same_seed_same_images(checkpoint):
    model = load_gan(checkpoint)
    assert torch.equal(generate(model, 10, seed=3), generate(model, 10, seed=3))
    # another batch size: the same noise, but the CPU's matrix kernels for 4 rows and for 10 round
    # differently (3.9e-7 at most, measured here), so equal to float rounding, not to the bit
    torch.testing.assert_close(generate(model, 10, seed=3), generate(model, 10, seed=3, batch_size=4),
                               rtol=0, atol=1e-5)
    assert not torch.equal(generate(model, 10, seed=3), generate(model, 10, seed=4))


def test_bad_requests_are_explained(checkpoint, tmp_path):
    images = generate(load_gan(checkpoint), 4)
    with pytest.raises(ValueError, match=r"end it in \.png .* or \.npy"):
        write_images(images, tmp_path / "samples.txt")
    with pytest.raises(UserError, match="not a file"):
        load_gan(tmp_path / "missing.ckpt")
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="not a checkpoint of this project's GAN"):
        load_gan(other)
    with pytest.raises(ValueError, match="positive whole number of images"):
        generate(load_gan(checkpoint), 0)


def test_digit_is_for_conditional_gans_only(checkpoint, tmp_path, mnist_dir):
    with pytest.raises(ValueError, match="not conditional"):
        generate(load_gan(checkpoint), 4, digit=7)
    out = tmp_path / "cgan"
    train(tiny_run(out, mnist_dir, "model=cgan", "data.batch_size=8", "trainer.max_steps=2"))
    cgan = load_gan(out / "checkpoints" / "last.ckpt")
    sevens, threes = generate(cgan, 6, seed=1, digit=7), generate(cgan, 6, seed=1, digit=3)
    assert sevens.shape == (6, 1, 28, 28) and not torch.equal(sevens, threes)
    # streamed in batches of 7: the ten digits in equal shares, in random order, saved beside
    streamed = np.load(stream_npy(cgan, 30, tmp_path / "c.npy", seed=1, batch_size=7))
    assert np.array_equal(streamed, generate(cgan, 30, seed=1, batch_size=7, shuffled=True).squeeze(1).numpy())
    labels = np.load(tmp_path / "c.labels.npy")
    assert sorted(labels.tolist()) == [d for d in range(10) for _ in range(3)]
    assert labels.tolist() != sorted(labels.tolist()), "not sorted by digit"
    assert np.array_equal(labels, digits(cgan, 30, None, seed=1, shuffled=True).numpy())
    sevens_npy = np.load(stream_npy(cgan, 6, tmp_path / "s.npy", seed=1, digit=7))
    assert np.array_equal(sevens_npy, sevens.squeeze(1).numpy())
    assert np.load(tmp_path / "s.labels.npy").tolist() == [7] * 6
    with pytest.raises(ValueError, match="from 0 to 9"):
        generate(cgan, 4, digit=10)

    # generate.py's grid at its default n=64: one labelled row per digit, 7 images each (70 in all)
    grid = tmp_path / "grid.png"
    done = run_command("generate.py", f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}", f"out={grid}", "device=cpu",
                       check=True)
    assert not list(ROOT.glob("generate.log")), "generate writes no log file into the project"
    assert "wrote 70 images to" in done.stdout + done.stderr and "one row of 7 for each digit" in done.stdout + done.stderr
    picture = np.asarray(Image.open(grid).convert("L"))
    scale = 3  # 7 x 10 digits with padding: 212 x 302 px, shown 3x (at least 512 px wide)
    assert picture.shape[0] == scale * 302 and picture.shape[1] > scale * 212
    margin = picture[:, : picture.shape[1] - scale * 212]
    rows_with_ink = [(margin[int((r + 0.5) * scale * 30) - 10: int((r + 0.5) * scale * 30) + 10] < 128).any()
                     for r in range(10)]
    assert all(rows_with_ink), "each row's digit is written in the margin"


def test_a_checkpoint_with_non_finite_weights_is_refused(checkpoint, tmp_path):
    ckpt = torch.load(checkpoint, weights_only=True)
    ckpt["state_dict"]["generator.net.0.weight"][0, 0] = float("nan")
    diverged = tmp_path / "diverged.ckpt"
    torch.save(ckpt, diverged)
    with pytest.raises(ValueError, match="holds non-finite weights \\(generator.net.0.weight\\): its training diverged"):
        load_gan(diverged)


@pytest.mark.parametrize(
    "n, digit, out, match",
    [
        ("abc", None, "a.png", "n='abc': ask for a positive whole number of images"),
        (0, None, "a.png", "n=0: ask for a positive whole number"),
        (-3, None, "a.npy", "n=-3: ask for a positive whole number"),
        (8, "seven", "a.png", "digit='seven': give a digit as a number from 0 to 9"),
        (8, 3.5, "a.png", "digit=3.5: give a digit as a number"),
        (8, None, "a.txt", r"out=a.txt: end it in \.png .* or \.npy"),
        (20_000, None, "a.png", "too many for one grid image"),
    ],
)
def test_requests_are_checked_before_the_checkpoint_is_loaded(n, digit, out, match):
    with pytest.raises(UserError, match=match):
        check_request(n, digit, out)
    check_request(8, 7, "a.png")  # and a good one passes


def test_a_batch_size_of_zero_and_an_out_below_a_file_are_refused_up_front(tmp_path):
    with pytest.raises(UserError, match="batch_size=0: generate a positive whole number of images at a time"):
        check_request(8, None, "a.png", batch_size=0)
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=f"out={tmp_path}/file/x.png: {tmp_path}/file is a file"):
        check_request(8, None, str(tmp_path / "file" / "x.png"))


def test_npy_is_streamed_to_disk_with_the_same_images(checkpoint, tmp_path):
    model = load_gan(checkpoint)
    path = stream_npy(model, 2500, tmp_path / "s.npy", seed=4, batch_size=1000)
    streamed = np.load(path)
    assert streamed.shape == (2500, 28, 28) and streamed.dtype == np.float32
    assert np.array_equal(streamed, generate(model, 2500, seed=4).squeeze(1).numpy())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npy"], "no temporary file left behind"


def test_interpolation_walks_smoothly_between_two_noise_vectors(checkpoint, tmp_path):
    model = load_gan(checkpoint)
    walks = interpolation(model, rows=3, steps=8, seed=5)
    assert walks.shape == (24, 1, 28, 28)
    rng = torch.Generator().manual_seed(5)
    start, end = torch.randn(3, model.z_dim, generator=rng), torch.randn(3, model.z_dim, generator=rng)
    assert torch.allclose(walks[0::8], model.sample(start), atol=1e-5), "each row starts at its first vector"
    assert torch.allclose(walks[7::8], model.sample(end), atol=1e-5), "and ends at its second"
    steps = (walks[1:8] - walks[:7]).abs().mean(dim=(1, 2, 3))
    assert steps.max() < (walks[7] - walks[0]).abs().mean(), "neighbours are closer than the ends"
    norms = slerp(start[:1, None], end[:1, None], torch.linspace(0, 1, 8)[None, :, None]).norm(dim=-1)
    assert norms.min() > 0.9 * min(start[0].norm(), end[0].norm()), "the walk keeps a Gaussian z's length"
    with pytest.raises(ValueError, match="interpolate=1: give a whole number, at least 2"):
        interpolation(model, rows=2, steps=1)
