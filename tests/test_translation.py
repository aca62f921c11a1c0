"""translation.py: which path translates a tensor (streamed, tiled above the budget, or whole)."""

import numpy as np
import pytest
import torch

from cyclegan_core.engine import translation
from cyclegan_core.engine.images import image_to_tensor
from cyclegan_core.engine.translation import stream_pixels, translate_tensor, translate_whole


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
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "0")  # never one whole pass
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
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "0")  # streamed, never one whole pass
    torch.testing.assert_close(translate_tensor(tiny_model.G_AB, x, "fp32"), whole, atol=1e-5, rtol=1e-5)
    monkeypatch.setenv("CYCLEGAN_STREAM_PIXELS", str(x.shape[-1] * x.shape[-2]))  # fp32: half of it streams
    tiled = translate_tensor(tiny_model.G_AB, x, "fp32")  # statistics from a copy at half the pixels
    assert tiled.shape == x.shape and not torch.allclose(tiled, whole, atol=1e-4)
    assert (tiled - whole).abs().mean() < 0.02


def test_a_gpu_takes_the_whole_image_in_one_pass_when_it_fits():
    from cyclegan_core.nn.networks import ResnetGenerator
    from cyclegan_core.engine.translation import generator_width, whole_pass_fits
    assert generator_width(ResnetGenerator(ngf=16, n_blocks=1)) == 16
    gib = 2**30
    assert whole_pass_fits(4096 * 4096, 64, "bf16", 80 * gib)  # 16.8 MP on an 80 GB GPU: one pass
    assert not whole_pass_fits(4096 * 4096, 64, "fp32", 8 * gib)  # on an 8 GB one: streamed
    assert whole_pass_fits(1024 * 1024, 64, "fp16", 2 * gib) and not whole_pass_fits(1024 * 1024, 64, "fp32", gib)


def test_the_path_follows_the_hardware_and_the_size(monkeypatch):
    """Native bf16: OpenVINO's whole bf16 pass while it fits the CPU budget, streamed above (and
    everywhere without OpenVINO). Without native bf16: fp32 in one whole pass while it fits (with the
    kernel measured faster here), streamed above, tiled beyond the stream budget."""
    from cyclegan_core.engine import backends
    from cyclegan_core.engine.translation import PathChoice, choose_path
    cpu = torch.device("cpu")
    monkeypatch.delenv("CYCLEGAN_WHOLE_PASS_MB", raising=False)
    monkeypatch.delenv("CYCLEGAN_STREAM_PIXELS", raising=False)
    monkeypatch.delenv("CYCLEGAN_BACKEND", raising=False)
    monkeypatch.setattr(translation, "conv_kernel", lambda device, pixels: "winograd")
    monkeypatch.setattr(translation, "resolve_precision", lambda requested, device: "bf16")
    monkeypatch.setattr(backends, "installed", lambda runtime: True)
    assert choose_path(256 * 256, 64, "auto", cpu) == PathChoice("whole", "bf16", "onednn", "openvino")
    assert choose_path(1536 * 1536, 64, "auto", cpu) == PathChoice("whole", "bf16", "onednn", "openvino")  # ≈1.2 GB
    assert choose_path(2048 * 2048, 64, "auto", cpu) == PathChoice("streamed", "bf16", "onednn")  # ≈2.2 GB whole
    monkeypatch.setattr(backends, "installed", lambda runtime: False)
    assert choose_path(256 * 256, 64, "auto", cpu) == PathChoice("streamed", "bf16", "onednn")
    monkeypatch.setattr(translation, "resolve_precision", lambda requested, device: "fp32")
    assert choose_path(256 * 256, 64, "auto", cpu) == PathChoice("whole", "fp32", "winograd")
    assert choose_path(1024 * 1024, 64, "auto", cpu) == PathChoice("whole", "fp32", "winograd")  # ≈1.1 GB
    assert choose_path(2048 * 2048, 64, "auto", cpu) == PathChoice("streamed", "fp32", "winograd")  # ≈4.6 GB whole
    assert choose_path(2048 * 2048, 16, "auto", cpu).path == "whole"  # a narrow generator needs a quarter
    assert choose_path(5000 * 5000, 64, "auto", cpu).path == "tiled"
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "0")
    assert choose_path(256 * 256, 64, "auto", cpu).path == "streamed"


def _progress_recorder():
    seen = []
    return seen, seen.append


@pytest.mark.parametrize("path", ["whole", "streamed", "tiled"])
def test_every_path_reports_progress_up_to_one(tiny_model, monkeypatch, path):
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "0" if path != "whole" else "1024")
    monkeypatch.setenv("CYCLEGAN_STREAM_PIXELS", str(96 * 96 if path == "tiled" else 4096 * 4096))
    x = torch.rand(1, 3, 160, 128) * 2 - 1
    seen, record = _progress_recorder()
    out = translate_tensor(tiny_model.G_AB, x, "fp32", progress=record)
    assert out.shape == x.shape
    assert len(seen) >= 3 and seen == sorted(seen) and 0 < seen[0] < 1
    assert seen[-1] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("path", ["whole", "streamed"])
def test_raising_in_the_progress_callback_stops_the_work(tiny_model, monkeypatch, path):
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "0" if path == "streamed" else "1024")
    seen = []

    class Cancelled(Exception):
        pass

    def cancel_at_a_quarter(fraction):
        seen.append(fraction)
        if fraction >= 0.25:
            raise Cancelled

    with pytest.raises(Cancelled):
        translate_tensor(tiny_model.G_AB, torch.rand(1, 3, 96, 96) * 2 - 1, "fp32", progress=cancel_at_a_quarter)
    assert seen[-1] < 0.75  # stopped soon after, not at the end


def test_the_winograd_kernel_gives_the_reference_result(tiny_model, photo):
    """Winograd convolutions (channels-last, with the channels-last InstanceNorm), in the whole pass
    and streamed, match the reference way (eager fp32, oneDNN) to float rounding."""
    from cyclegan_core.engine.streaming import translate_streamed
    x = image_to_tensor(photo)
    reference = translate_whole(tiny_model.G_AB, x, "fp32")
    torch.testing.assert_close(translate_whole(tiny_model.G_AB, x, "fp32", kernel="winograd"), reference,
                               atol=2e-5, rtol=1e-4)
    streamed = translate_streamed(tiny_model.G_AB, x, "fp32", kernel="winograd", core=8)  # many windows
    torch.testing.assert_close(streamed, reference, atol=2e-5, rtol=1e-4)


def test_the_winograd_path_gives_the_same_pixels_with_one_or_two_threads(tiny_model, photo, monkeypatch):
    """A translation sharing the CPU with a training run (`runtime.CoreShare`: one thread) gives
    the picture one run alone (two threads) gives: the norms' sums are not split differently by a
    different team (they were: 9 values changed by one level). (oneDNN's channels-last transposed
    conv itself may differ in the last float bit between team sizes: far below one level.)"""
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "winograd")
    before = torch.get_num_threads()
    try:
        pictures = []
        for threads in (2, 1):
            torch.set_num_threads(threads)
            pictures.append(np.asarray(tiny_model.translate(photo, "AtoB", precision="fp32")))
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(pictures[0], pictures[1])
