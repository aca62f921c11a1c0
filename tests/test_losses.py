"""losses.py: each loss is the equation it cites, in value."""

import math

import pytest
import torch

from cyclegan_core.nn.losses import cycle_loss, discriminator_loss, gan_loss, identity_loss


def test_lsgan_is_least_squares_against_one_or_zero():
    pred = torch.tensor([[0.5, 1.5]])
    assert gan_loss(pred, True).item() == pytest.approx(((0.5 - 1) ** 2 + (1.5 - 1) ** 2) / 2)
    assert gan_loss(pred, False).item() == pytest.approx((0.25 + 2.25) / 2)


def test_vanilla_gan_is_cross_entropy_on_logits():
    assert gan_loss(torch.zeros(3), True, "vanilla").item() == pytest.approx(math.log(2))
    assert gan_loss(torch.full((2,), 100.0), True, "vanilla").item() == pytest.approx(0.0, abs=1e-6)
    assert gan_loss(torch.full((2,), 100.0), False, "vanilla").item() == pytest.approx(100.0)


def test_discriminator_loss_is_halved():
    assert discriminator_loss(torch.ones(4), torch.zeros(4)).item() == 0.0
    assert discriminator_loss(torch.zeros(4), torch.ones(4)).item() == pytest.approx(1.0)  # ½ (1 + 1)


def test_cycle_and_identity_are_weighted_l1():
    x, y = torch.zeros(2, 3), torch.full((2, 3), 0.5)
    assert cycle_loss(y, x).item() == pytest.approx(5.0)  # λ = 10 by default
    assert cycle_loss(y, x, 2.0).item() == pytest.approx(1.0)
    assert identity_loss(y, x, 5.0).item() == pytest.approx(2.5)


def test_losses_are_computed_in_float32():
    x = torch.zeros(4, dtype=torch.bfloat16)
    assert gan_loss(x, True).dtype == torch.float32
    assert cycle_loss(x + 1, x).dtype == torch.float32


def test_unknown_gan_mode_is_refused():
    with pytest.raises(ValueError, match="unknown GAN mode 'wgan'"):
        gan_loss(torch.zeros(1), True, "wgan")
