"""Shots' pieces: statistics combined as one population, the fixed-statistics pass (equal to the
generator's own pass when given the frame's own statistics; tiles share them), the bounded sampler
of a shot's frames, and the cut test."""

import numpy as np
import torch

from cyclegan_core import CycleGAN, ModelConfig
from cyclegan_core.engine.shots import (CUT_SIZE, SAMPLES, ShotSampler, combine_statistics, cut_difference,
                                        frame_statistics, is_cut, translate_with_statistics)


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
