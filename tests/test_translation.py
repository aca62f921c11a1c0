"""translation.py: which path translates a tensor (streamed, tiled above the budget, or whole)."""

import pytest
import torch

from cyclegan_core import translation
from cyclegan_core.images import image_to_tensor
from cyclegan_core.translation import stream_pixels, translate_tensor, translate_whole


def test_stream_budget_setting(monkeypatch):
    monkeypatch.delenv("CYCLEGAN_STREAM_PIXELS", raising=False)
    assert stream_pixels() == 4096 * 4096
    monkeypatch.setenv("CYCLEGAN_STREAM_PIXELS", "1000")
    assert stream_pixels() == 1000


@pytest.mark.parametrize("pixels, precision, path", [
    (64 * 64, "auto", "streamed"),  # fits the budget (fp16 storage between passes)
    (64 * 64 - 1, "auto", "tiled"),  # just above it
    (2 * 64 * 64, "fp32", "streamed"),  # fp32 storage takes twice the memory: half the budget
    (2 * 64 * 64 - 1, "fp32", "tiled"),
])
def test_the_budget_picks_the_path(tiny_model, monkeypatch, pixels, precision, path):
    monkeypatch.setattr(translation, "resolve_precision", lambda requested, device: "fp32")
    monkeypatch.setenv("CYCLEGAN_STREAM_PIXELS", str(pixels))
    calls = []
    monkeypatch.setattr(translation, "translate_streamed", lambda *a, **k: calls.append("streamed"))
    monkeypatch.setattr(translation, "translate_tiled", lambda *a, **k: calls.append(f"tiled:{k['stats_pixels']}"))
    translate_tensor(tiny_model.G_AB, torch.zeros(1, 3, 64, 64), precision)
    budget = pixels // (2 if precision == "fp32" else 1)
    assert calls == [path if path == "streamed" else f"tiled:{budget}"]


def test_streamed_equals_whole_and_tiled_comes_close(tiny_model, monkeypatch, photo):
    x = image_to_tensor(photo)
    whole = translate_whole(tiny_model.G_AB, x)
    assert whole.shape == x.shape and whole.dtype == torch.float32
    torch.testing.assert_close(translate_tensor(tiny_model.G_AB, x, "fp32"), whole, atol=1e-5, rtol=1e-5)
    monkeypatch.setenv("CYCLEGAN_STREAM_PIXELS", str(x.shape[-1] * x.shape[-2]))  # fp32: half of it streams
    tiled = translate_tensor(tiny_model.G_AB, x, "fp32")  # statistics from a copy at half the pixels
    assert tiled.shape == x.shape and not torch.allclose(tiled, whole, atol=1e-4)
    assert (tiled - whole).abs().mean() < 0.02


def test_a_gpu_takes_the_whole_image_in_one_pass_when_it_fits():
    from cyclegan_core.networks import ResnetGenerator
    from cyclegan_core.translation import generator_width, whole_pass_fits
    assert generator_width(ResnetGenerator(ngf=16, n_blocks=1)) == 16
    gib = 2**30
    assert whole_pass_fits(4096 * 4096, 64, "bf16", 80 * gib)  # 16.8 MP on an 80 GB GPU: one pass
    assert not whole_pass_fits(4096 * 4096, 64, "fp32", 8 * gib)  # on an 8 GB one: streamed
    assert whole_pass_fits(1024 * 1024, 64, "fp16", 2 * gib) and not whole_pass_fits(1024 * 1024, 64, "fp32", gib)
