"""Streamed translation: window by window, yet equal to the whole-image pass (InstanceNorm with the
whole image's statistics), in fp32 exactly and in bf16 within 40 dB, at every shape."""

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_core import CycleGAN, ModelConfig
from cyclegan_core.engine.images import image_to_tensor, pad_to_multiple, tensor_to_image
from cyclegan_core.engine.streaming import spans, storage_for, translate_streamed
from cyclegan_core.engine.translation import translate_whole


@pytest.mark.parametrize("length, core, halo", [(1, 64, 1), (5, 2, 1), (64, 64, 2), (65, 64, 2), (100, 64, 1),
                                                (157, 7, 2), (3, 1, 1), (300, 16, 2)])
def test_spans_partition_the_axis_with_equal_windows(length, core, halo):
    result = spans(length, core, halo)
    owned = [i for _, _, a, b in result for i in range(a, b)]
    assert owned == list(range(length))  # a partition, in order
    assert len({end - start for start, end, _, _ in result}) == 1  # one window size: one compiled shape
    for start, end, own_start, own_end in result:
        assert 0 <= start <= own_start < own_end <= end <= length
        assert own_end - own_start <= core
        # Context on every inner side (image borders need none: the network pads there itself).
        assert own_start - start >= halo or start == 0
        assert end - own_end >= halo or end == length


@pytest.mark.parametrize("size", [(64, 48), (1, 300), (300, 1), (157, 301), (9, 9), (2, 3)])
@pytest.mark.parametrize("core", [64, 3, 7])
def test_fp32_equals_the_whole_image_pass(tiny_model, size, core):
    """Small cores force many windows per pass, so every border, halo and the in-place second conv
    are exercised; the result is the whole-image pass up to float rounding."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, *size) * 2 - 1
    whole = translate_whole(tiny_model.G_AB, x, "fp32")
    streamed = translate_streamed(tiny_model.G_AB, x, "fp32", core=core)
    assert streamed.shape == x.shape and streamed.dtype == torch.float32
    torch.testing.assert_close(streamed, whole, atol=2e-5, rtol=0)


def test_affine_norm_variant_and_odd_block_count():
    torch.manual_seed(1)
    model = CycleGAN(ModelConfig(ngf=8, n_blocks=3, norm="instance_affine"))
    for norm in (m for m in model.G_AB.modules() if isinstance(m, torch.nn.InstanceNorm2d)):
        torch.nn.init.normal_(norm.weight, 1.0, 0.3)
        torch.nn.init.normal_(norm.bias, 0.0, 0.3)
    x = torch.rand(1, 3, 45, 70) * 2 - 1
    whole = translate_whole(model.G_AB, x, "fp32")
    streamed = translate_streamed(model.G_AB, x, "fp32", core=5)
    torch.testing.assert_close(streamed, whole, atol=2e-5, rtol=0)


def test_statistics_are_the_whole_images(tiny_model):
    """Every norm's (mean, var) equal those InstanceNorm computes on the whole image."""
    x, _ = pad_to_multiple(torch.rand(1, 3, 50, 38) * 2 - 1)
    seen = []
    norms = [m for m in tiny_model.G_AB.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    hooks = [n.register_forward_hook(lambda m, inputs, out: seen.append(
        (inputs[0].mean(dim=(2, 3), keepdim=True), inputs[0].var(dim=(2, 3), keepdim=True, unbiased=False))))
        for n in norms]
    with torch.no_grad():
        tiny_model.G_AB(x)
    for h in hooks:
        h.remove()
    _, statistics = translate_streamed(tiny_model.G_AB, x, "fp32", core=4, return_statistics=True)
    assert len(statistics) == len(seen) == len(norms)
    for (mean, var), (true_mean, true_var) in zip(statistics, seen):
        torch.testing.assert_close(mean, true_mean, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(var, true_var, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("gpu_schedule", [False, True])
def test_fp16_storage_falls_back_to_fp32_when_values_overflow(gpu_schedule, monkeypatch):
    """Raw conv outputs of 1e6 do not fit in fp16; the translation is redone with fp32 storage
    instead of returning inf or NaN (InstanceNorm makes the output independent of that scale).
    `gpu_schedule`: the checks read once per pass, as on a GPU (no wait per window)."""
    from cyclegan_core.engine.streaming import StreamedTranslation
    monkeypatch.setattr(StreamedTranslation, "per_row", gpu_schedule)
    torch.manual_seed(2)
    model = CycleGAN(ModelConfig(ngf=8, n_blocks=1))
    g = model.G_AB
    with torch.no_grad():
        g.model[7].weight.mul_(1e6)  # d256: the residual stream's input, before its norm
        g.model[7].bias.mul_(1e6)
    x = torch.rand(1, 3, 40, 40) * 2 - 1
    whole = translate_whole(g, x, "fp32")
    streamed = translate_streamed(g, x, "fp32", storage="fp16", core=4)
    assert torch.isfinite(streamed).all()
    torch.testing.assert_close(streamed, whole, atol=1e-3, rtol=0)


def test_bad_precision_and_storage(tiny_model):
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown precision"):
        translate_streamed(tiny_model.G_AB, x, "fp8")
    with pytest.raises(ValueError, match="unknown storage"):
        translate_streamed(tiny_model.G_AB, x, "fp32", storage="int8")


def test_storage_choice():
    assert storage_for("bf16", "bf16") == "bf16" and storage_for("auto", "bf16") == "bf16"
    assert storage_for("fp32", "fp32") == "fp32"  # reference parity: fp32 end to end
    assert storage_for("auto", "fp32") == "fp16"  # no native bf16: half the memory, ≈85 dB


@pytest.mark.slow
def test_real_generator_real_photo_many_windows(trained_model, psnr_fn):
    """A trained 9-block generator on a real photo in 3×2 windows: fp32 is the whole pass; bf16
    (what `auto` picks on CPUs with AMX / AVX512-BF16) and fp16 storage stay far above 40 dB."""
    from skimage import data
    x = image_to_tensor(Image.fromarray(data.coffee()).resize((300, 200)))
    whole = np.asarray(tensor_to_image(translate_whole(trained_model.G_AB, x, "fp32")))
    assert psnr_fn(whole, np.asarray(tensor_to_image(x))) < 30  # it really changes the photo

    def streamed(precision, storage=None):
        y = translate_streamed(trained_model.G_AB, x, precision, storage, core=24)
        return np.asarray(tensor_to_image(y))

    fp32 = streamed("fp32")
    assert np.abs(fp32.astype(int) - whole).max() <= 1
    assert psnr_fn(streamed("fp32", "fp16"), whole) >= 60
    assert psnr_fn(streamed("bf16"), whole) >= 45  # ≈55–60 dB measured


def _affine_generator_on(device: str):
    model = CycleGAN(ModelConfig(ngf=8, n_blocks=1, norm="instance_affine"))
    return model.G_AB.to(device)


def test_statistics_and_affine_norms_stay_on_the_activations_device():
    """On a GPU every window's moments, the merged statistics and an affine norm's scale and shift
    must live where the activations do (the `meta` device stands in for a GPU here: no CPU copy of
    it can be made, so any statistic summed on the CPU fails)."""
    from cyclegan_core.engine.streaming import Moments, norm_affine

    moments = Moments(8)
    for _ in range(2):
        moments.add(torch.empty(1, 8, 5, 6, device="meta"))
    mean, var = moments.statistics()
    assert mean.device.type == var.device.type == "meta" and mean.shape == (1, 8, 1, 1)
    norm = torch.nn.InstanceNorm2d(8, affine=True).to("meta")
    scale, shift = norm_affine(norm, moments)
    assert scale.device.type == shift.device.type == "meta" and scale.dtype == torch.float32
    x = torch.empty(1, 3, 45, 70, device="meta")
    out = translate_streamed(_affine_generator_on("meta"), x, "fp32", storage="fp32", core=5)
    assert out.device.type == "meta" and out.shape == x.shape


def test_the_streamed_result_comes_back_on_the_inputs_device(tiny_model, monkeypatch):
    """The other paths return their result on the input's device; so does the streamed one (a GPU's
    output is copied back to the CPU tensor's device, not left on the GPU)."""
    from cyclegan_core.engine import streaming

    moved = []

    class OnTheGPU:  # the streamed output as a GPU would hold it
        def to(self, device):
            moved.append(torch.device(device))
            return self

    monkeypatch.setattr(streaming.StreamedTranslation, "run", lambda self: OnTheGPU())
    assert isinstance(translate_streamed(tiny_model.G_AB, torch.zeros(1, 3, 16, 16), "fp32"), OnTheGPU)
    assert moved == [torch.device("cpu")]


def test_on_a_gpu_progress_comes_once_per_row_of_windows_after_the_work_is_done(tiny_model, monkeypatch):
    """A GPU's schedule: the host waits for the queued kernels once per row of windows, then reports;
    same result as the CPU's window-by-window schedule."""
    from cyclegan_core.engine import streaming
    x = torch.rand(1, 3, 40, 48) * 2 - 1
    per_window = []
    expected = translate_streamed(tiny_model.G_AB, x, "fp32", core=4, progress=per_window.append)
    events = []
    monkeypatch.setattr(streaming.StreamedTranslation, "per_row", True)
    monkeypatch.setattr(streaming, "finish_queued_work", lambda device: events.append("wait"))
    out = translate_streamed(tiny_model.G_AB, x, "fp32", core=4, progress=lambda f: events.append(f))
    assert torch.equal(out, expected)
    reports = [e for e in events if e != "wait"]
    rows, columns = 3, 3  # 10 × 12 quarter-resolution pixels in windows of 4
    assert len(per_window) == len(reports) * columns and reports[-1] == pytest.approx(1.0)
    assert all(events[i - 1] == "wait" for i, e in enumerate(events) if e != "wait")  # each after a wait
    assert len(reports) % rows == 0
