"""Hidden information (steganography.py): the high-frequency signal and the noise/JPEG curves."""

import math

import pytest
import torch

from cyclegan_core import convert_official
from cyclegan_core.teaching.explain import fit_for_teaching, model_translator
from cyclegan_core.teaching.steganography import (AMOUNTS, degrade, describe_curve, hidden_signal, psnr,
                                         reconstruction_curve, smoothed)


def test_hidden_signal_is_what_smoothing_removes():
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert float(hidden_signal(flat).abs().max()) < 1e-6
    checker = (torch.arange(16).view(1, 1, 16, 1) + torch.arange(16).view(1, 1, 1, 16)) % 2 * 2.0 - 1
    assert float(hidden_signal(checker.expand(1, 3, 16, 16)).abs().mean()) > 0.5
    assert torch.allclose(smoothed(checker.expand(1, 3, 16, 16)) + hidden_signal(checker.expand(1, 3, 16, 16)),
                          checker.expand(1, 3, 16, 16))


def test_degrade_noise_scales_one_pattern_and_jpeg_loses_detail():
    y = torch.rand(1, 3, 32, 32) * 1.6 - 0.8
    assert torch.equal(degrade(y, "noise", 0), y)
    small, large = degrade(y, "noise", 2) - y, degrade(y, "noise", 4) - y
    assert torch.allclose(large, 2 * small, atol=1e-5)
    assert psnr(degrade(y, "jpeg", 95), y) > psnr(degrade(y, "jpeg", 10), y)
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(y, "blur", 1)


def test_noise_curve_is_monotone_on_a_trained_generator(trained_generator_path, tmp_path):
    """vintagify's trained generator (one direction, so F = G here): more noise on G(x), worse F(G(x))."""
    from skimage import data
    from PIL import Image

    model = convert_official(trained_generator_path, None, tmp_path / "vintage")
    x = fit_for_teaching(Image.fromarray(data.coffee()), 96)
    G = model_translator(model, "AtoB", "fp32")
    curve = reconstruction_curve(x, G, G, "noise")
    assert [p.amount for p in curve] == list(AMOUNTS["noise"])
    changes = [p.reconstruction_change for p in curve]
    assert changes[0] == 0.0 and changes == sorted(changes) and changes[-1] > 0.02
    assert math.isinf(curve[0].translation_psnr)
    assert [p.translation_psnr for p in curve[1:]] == sorted([p.translation_psnr for p in curve[1:]], reverse=True)
    text = describe_curve(curve, "noise")
    invisible = [p for p in curve[1:] if p.translation_psnr >= 35][-1]  # σ = 2 here
    assert f"noise σ (levels of 255) {invisible.amount:g}," in text and "invisible" in text
    assert ("F amplifies" in text) == (invisible.reconstruction_change >= invisible.translation_change)


def test_jpeg_curve_has_one_point_per_quality(tiny_model):
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    G, F = model_translator(tiny_model, "AtoB", "fp32"), model_translator(tiny_model, "BtoA", "fp32")
    curve = reconstruction_curve(x, G, F, "jpeg", amounts=(90, 20))
    assert [p.amount for p in curve] == [90, 20] and curve[0].translation_psnr > curve[1].translation_psnr
