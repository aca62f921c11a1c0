"""The cycle seen (explain.py): error maps, the identity view, and Eq. 2's number."""

import pytest
import torch

from cyclegan_core.teaching.explain import (error_map, fit_for_teaching, forward_cycle, heat_map, identity_view,
                                   model_translator)
from cyclegan_core.nn.losses import cycle_loss


def test_cycle_error_map_is_zero_for_an_identity_model_and_has_the_image_size():
    x = torch.rand(1, 3, 20, 36) * 2 - 1
    view = forward_cycle(x, lambda t: t, lambda t: t)
    assert view.error.shape == (20, 36)
    assert view.mean_error == 0.0 and float(view.error.max()) == 0.0
    assert [tuple(p.size) for p in view.pictures()] == [(36, 20)] * 3


def test_cycle_error_is_eq2s_l1_term_and_maps_where_the_cycle_fails():
    x = torch.zeros(1, 3, 16, 16)
    broken = x.clone()
    broken[..., 4:8, 4:8] = 1.0  # F(G(x)) gets one square wrong
    view = forward_cycle(x, lambda t: t * 0.5, lambda t: broken)
    assert view.error[5, 5] == pytest.approx(1.0) and view.error[0, 0] == 0.0
    assert view.mean_error == pytest.approx(float(cycle_loss(broken, x, 1.0)))
    assert view.mean_error == pytest.approx(16 / 256)


def test_identity_view_on_a_real_model(tiny_model):
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    view = identity_view(y, model_translator(tiny_model, "AtoB", "fp32"))
    with torch.no_grad():
        expected = (tiny_model.G_AB(y) - y).abs().mean()
    assert len(view.images) == 2 and view.mean_error == pytest.approx(float(expected), rel=1e-4)


def test_backward_cycle_runs_F_then_G(tiny_model):
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    G, F = model_translator(tiny_model, "AtoB", "fp32"), model_translator(tiny_model, "BtoA", "fp32")
    view = forward_cycle(y, F, G)
    with torch.no_grad():
        expected = tiny_model.G_AB(tiny_model.G_BA(y))
    assert torch.allclose(view.images[2], expected, atol=1e-4)


def test_error_map_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="cannot compare"):
        error_map(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 12))


def test_heat_map_colours_run_from_black_to_pale_yellow():
    image = heat_map(torch.tensor([[0.0, 0.25, 1.0]]), vmax=0.5)
    assert image.size == (3, 1)
    black, middle, top = (image.getpixel((i, 0)) for i in range(3))
    assert sum(black) < 10 and top == (252, 255, 164) and sum(black) < sum(middle) < sum(top)


def test_fit_for_teaching_keeps_aspect_and_multiples_of_four(photo):
    x = fit_for_teaching(photo, 128)  # 301×157
    assert x.shape[-1] == 128 and x.shape[-2] % 4 == 0 and abs(x.shape[-2] - 157 * 128 / 301) < 4
