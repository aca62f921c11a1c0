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


GIB = 2**30


def test_the_32_bit_index_cap_depends_on_the_shape_and_the_channels():
    """CUDA kernels refuse tensors of 2³¹ elements or more; a whole pass's largest activation is the
    64-channel reflection padding at full resolution (the image padded to a multiple of 4, then 3
    pixels on every side)."""
    from cyclegan_core.engine.translation import within_index_cap
    assert within_index_cap(4096, 4096, 64)  # 64 × 4102² ≈ 1.08 G elements
    assert within_index_cap(5780, 5780, 64)  # 64 × 5786² ≈ 2.1426 G
    assert not within_index_cap(5800, 5800, 64)  # 64 × 5806² ≈ 2.1574 G > 2³¹ ≈ 2.1475 G
    assert not within_index_cap(8192, 8192, 64)  # 67 MP
    assert within_index_cap(8192, 8192, 16)  # a narrow generator: a quarter of the elements
    assert not within_index_cap(2, 40_000_000, 64)  # the shape counts, not only the pixels


def _fake_gpu(monkeypatch, free, reserved=0, allocated=0):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 140 * GIB))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: reserved)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: allocated)


def test_a_big_gpu_takes_the_tiled_path_above_the_index_cap(monkeypatch):
    """On a GPU with ~140 GB free a 67 MP whole pass fits in memory, but not in 32-bit indexing."""
    from cyclegan_core.engine.translation import choose_path
    monkeypatch.delenv("CYCLEGAN_STREAM_PIXELS", raising=False)
    _fake_gpu(monkeypatch, free=140 * GIB)
    gpu = torch.device("cuda", 0)
    assert choose_path(4096 * 4096, 64, "bf16", gpu, shape=(4096, 4096)).path == "whole"
    assert choose_path(8192 * 8192, 64, "bf16", gpu, shape=(8192, 8192)).path == "tiled"
    assert choose_path(8192 * 8192, 64, "bf16", gpu).path == "tiled"  # no shape: a square of that many pixels


def test_the_free_memory_estimate_counts_what_the_allocator_holds_unused():
    """PyTorch's caching allocator keeps freed blocks reserved: the driver does not count them as
    free, yet the next pass may use them."""
    from cyclegan_core.engine.translation import free_device_bytes
    assert free_device_bytes(free=1 * GIB, reserved=20 * GIB, allocated=1 * GIB) == 20 * GIB
    assert free_device_bytes(free=3 * GIB, reserved=0, allocated=0) == 3 * GIB


def test_a_gpu_whose_allocator_holds_free_memory_still_takes_the_whole_pass(monkeypatch):
    from cyclegan_core.engine.translation import choose_path
    _fake_gpu(monkeypatch, free=1 * GIB, reserved=20 * GIB, allocated=1 * GIB)  # 20 GB usable at once
    assert choose_path(4096 * 4096, 64, "bf16", torch.device("cuda", 0)).path == "whole"  # ≈10 GB in bf16


def _tf32_flags():
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize("path", ["whole", "streamed"])
def test_fp32_means_fp32_on_a_gpu_tf32_is_off_during_the_translation(tiny_model, monkeypatch, path):
    """`precision="fp32"`: no TF32 convolutions or matrix products while it runs (the GPU's default
    for cuDNN convolutions), and the settings as they were afterwards; `auto` leaves them alone."""
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "1024" if path == "whole" else "0")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", True)
    seen = []
    target = "translate_whole" if path == "whole" else "translate_streamed"
    monkeypatch.setattr(translation, target, lambda generator, x, *a, **k: seen.append(_tf32_flags()) or x)
    translate_tensor(tiny_model.G_AB, torch.zeros(1, 3, 32, 32), "fp32")
    assert seen == [(False, False)] and _tf32_flags() == (True, True)
    monkeypatch.setattr(translation, "resolve_precision", lambda requested, device: "fp32")
    translate_tensor(tiny_model.G_AB, torch.zeros(1, 3, 32, 32), "auto")
    assert seen[-1] == (True, True)


def _out_of_memory(*args, **kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_out_of_memory_in_a_whole_pass_falls_back_to_streaming(tiny_model, monkeypatch):
    """The whole-pass estimate can be wrong (other processes on the GPU): streamed instead, same result."""
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "1024")
    x = torch.rand(1, 3, 40, 36) * 2 - 1
    expected = translate_whole(tiny_model.G_AB, x)
    monkeypatch.setattr(translation, "translate_whole", _out_of_memory)
    torch.testing.assert_close(translate_tensor(tiny_model.G_AB, x, "fp32"), expected, atol=2e-5, rtol=0)


def test_out_of_memory_everywhere_is_a_clear_error(tiny_model, monkeypatch):
    """Not "Something went wrong (OutOfMemoryError…)": a CycleGANError that says what to do."""
    from cyclegan_core.errors import CycleGANError, DeviceMemoryError
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "1024")
    monkeypatch.setattr(translation, "translate_whole", _out_of_memory)
    monkeypatch.setattr(translation, "translate_streamed", _out_of_memory)
    with pytest.raises(DeviceMemoryError) as caught:
        translate_tensor(tiny_model.G_AB, torch.zeros(1, 3, 48, 40), "fp32")
    assert isinstance(caught.value, CycleGANError)
    assert "out of memory" in str(caught.value) and "40×48" in str(caught.value)
    assert caught.value.public and "smaller" in caught.value.public


def test_a_whole_fp16_pass_that_overflows_is_redone_in_fp32(monkeypatch):
    """A GPU without bf16 runs fp16, whose range ends at 65504: a non-finite result is redone in fp32
    (CPU autocast runs the same fp16 maths here)."""
    from cyclegan_core import CycleGAN, ModelConfig
    from cyclegan_core.engine.translation import PathChoice
    torch.manual_seed(0)
    generator = CycleGAN(ModelConfig(ngf=8, n_blocks=1)).G_AB
    with torch.no_grad():
        generator.stem[0].weight.mul_(3e5)  # c7s1-64's outputs beyond fp16's range
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert not torch.isfinite(translate_whole(generator, x, "fp16")).all()
    monkeypatch.setattr(translation, "choose_path", lambda *a, **k: PathChoice("whole", "fp16", "onednn"))
    out = translate_tensor(generator, x, "auto")
    assert torch.equal(out, translate_whole(generator, x, "fp32"))
