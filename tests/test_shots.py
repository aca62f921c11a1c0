"""Shots' pieces: statistics combined as one population, the fixed-statistics pass (equal to the
generator's own pass when given the frame's own statistics; tiles share them), the bounded sampler
of a shot's frames, and the cut test; on a runtime (OpenVINO), the live graph gives torch's pixels
and is compiled once, beside the ordinary model."""

import numpy as np
import pytest
import torch

from cyclegan_core import CycleGAN, ModelConfig
from cyclegan_core.engine import backends
from cyclegan_core.engine.shots import (CUT_SIZE, SAMPLES, ShotSampler, combine_statistics, cut_difference,
                                        frame_statistics, is_cut, runs_on, translate_with_statistics)
from cyclegan_core.engine.translation import translate_tensor


def tiny_generator():
    torch.manual_seed(0)
    return CycleGAN(ModelConfig(ngf=8, n_blocks=1)).G_AB


def test_combined_statistics_are_those_of_all_the_pixels_together():
    torch.manual_seed(1)
    a, b = torch.randn(1, 4, 6, 7) * 3 + 2, torch.randn(1, 4, 6, 7) * 0.5 - 1
    (mean, var), = combine_statistics([[(a.mean((2, 3), keepdim=True), a.var((2, 3), unbiased=False, keepdim=True))],
                                        [(b.mean((2, 3), keepdim=True), b.var((2, 3), unbiased=False, keepdim=True))]])
    both = torch.cat([a, b], dim=3)
    assert torch.allclose(mean, both.mean((2, 3), keepdim=True), atol=1e-5)
    assert torch.allclose(var, both.var((2, 3), unbiased=False, keepdim=True), atol=1e-4)
    assert not torch.allclose(var, (a.var((2, 3), unbiased=False, keepdim=True)
                                    + b.var((2, 3), unbiased=False, keepdim=True)) / 2, atol=1e-2)  # not the mean var


def test_a_frame_with_its_own_statistics_is_the_generators_own_pass():
    generator = tiny_generator()
    x = torch.rand(1, 3, 37, 50) * 2 - 1  # not a multiple of 4: padded and cropped as pictures are
    statistics = frame_statistics(generator, x, "fp32")
    with torch.inference_mode():
        expected = generator(torch.nn.functional.pad(x, (0, 2, 0, 3), mode="reflect"))[..., :37, :50]
    assert (translate_with_statistics(generator, x, statistics, "fp32") - expected).abs().max() < 1e-5


def test_other_statistics_change_the_result_and_tiles_share_them(monkeypatch):
    generator = tiny_generator()
    x, other = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64)  # other: brighter, less contrast
    own = translate_with_statistics(generator, x, frame_statistics(generator, x, "fp32"), "fp32")
    shared = frame_statistics(generator, other, "fp32")
    whole = translate_with_statistics(generator, x, shared, "fp32")
    assert (whole - own).abs().mean() > 0.01
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "0")  # no whole pass fits: tiles with the same statistics
    tiled = translate_with_statistics(generator, x, shared, "fp32")
    assert (tiled - whole).abs().mean() < (whole - own).abs().mean() / 10


def test_the_sampler_keeps_few_frames_spread_over_a_long_shot():
    sampler = ShotSampler()
    for index in range(1000):
        if sampler.wants(index):
            sampler.add(index, index)
        else:
            sampler.skip(index)
        assert len(sampler.kept) <= 2 * SAMPLES
    chosen = sampler.chosen()
    assert len(chosen) == SAMPLES and chosen[0] == 0 and chosen[-1] > 800
    assert min(np.diff(chosen)) > 64  # spread, not bunched
    short = ShotSampler()
    for index in range(6):
        short.add(index, index)
    assert short.chosen() == [0, 5]  # at most one per 4 frames of the shot


def test_a_cut_is_an_abrupt_change_of_the_grey_thumbnail():
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (CUT_SIZE, CUT_SIZE), dtype=np.uint8)
    moved = np.roll(first, 1, axis=1) // 2 + first // 2  # a small shift, blurred: the same view
    assert not is_cut(first, first) and cut_difference(first, first) == 0
    assert is_cut(first, 255 - first) and not is_cut(first, np.clip(first.astype(int) + 10, 0, 255).astype(np.uint8))
    assert cut_difference(first, moved) < cut_difference(first, 255 - first)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) * 127.5).pow(2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


class CountedBuilds:
    """`backends.CompiledPass` counting the models it builds (`live`: whether each took shared statistics)."""

    def __init__(self, monkeypatch):
        self.built, self.live = 0, []
        real = backends.CompiledPass

        def build(runtime, graph, *args):
            self.built += 1
            self.live.append(b"shared" in graph)
            return real(runtime, graph, *args)
        monkeypatch.setattr(backends, "CompiledPass", build)


def test_on_openvino_shared_statistics_give_torchs_pixels_and_compile_once(monkeypatch):
    """Where pictures go to OpenVINO, a frame with a shot's statistics runs its live graph: fp32 as
    torch's fixed-statistics pass, bf16 within the bf16 bound; built once, then reused."""
    pytest.importorskip("openvino")
    generator = tiny_generator()
    torch.manual_seed(2)
    x, other = torch.rand(1, 3, 61, 90) * 2 - 1, torch.rand(1, 3, 64, 64)  # an odd size: padded and cropped
    shared = frame_statistics(generator, other, "fp32")
    monkeypatch.setenv("CYCLEGAN_BACKEND", "torch")
    assert runs_on(generator, 61, 90, "fp32") == "torch·fp32"
    reference = translate_with_statistics(generator, x, shared, "fp32")
    own = translate_with_statistics(generator, x, frame_statistics(generator, x, "fp32"), "fp32")
    monkeypatch.setenv("CYCLEGAN_BACKEND", "openvino")
    builds = CountedBuilds(monkeypatch)
    for precision, bound in (("fp32", None), ("bf16", 40)):
        assert runs_on(generator, 61, 90, precision) == f"openvino·{precision}"
        first = translate_with_statistics(generator, x, shared, precision)
        second = translate_with_statistics(generator, x, shared, precision)
        assert first.shape == x.shape and first.dtype == torch.float32 and torch.equal(first, second)
        if bound is None:
            assert (first - reference).abs().max() < 1e-3
        else:
            assert psnr(first, reference) >= bound
        assert psnr(first, own) < 30  # the shared statistics were used, not the frame's own
    assert builds.built == 2  # one per precision: the second call of each found its model


def test_the_live_model_is_kept_apart_from_the_ordinary_one_of_the_same_weights(monkeypatch):
    pytest.importorskip("openvino")
    generator = tiny_generator()
    torch.manual_seed(3)
    x = torch.rand(1, 3, 40, 48) * 2 - 1
    monkeypatch.setenv("CYCLEGAN_BACKEND", "openvino")
    builds = CountedBuilds(monkeypatch)
    own = frame_statistics(generator, x, "fp32")
    picture = translate_tensor(generator, x, "fp32")  # the ordinary graph: the frame's own statistics
    frame = translate_with_statistics(generator, x, own, "fp32")
    assert translate_tensor(generator, x, "fp32").equal(picture)
    assert translate_with_statistics(generator, x, own, "fp32").equal(frame)
    assert builds.live == [False, True]  # each built once, and both kept
    assert (frame - picture).abs().max() < 1e-3  # its own statistics given back: the picture's pass
    with pytest.raises(ValueError, match="statistics for a generator whose norms take"):
        backends.run_shared("openvino", generator, x, frame_statistics(generator, x, "fp32")[1:], "fp32")
