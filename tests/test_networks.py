import pytest
import torch

from cyclegan_core.networks import NLayerDiscriminator, ResnetGenerator, init_weights


def official_generator_layout(n_blocks: int, ngf: int = 64) -> dict[str, tuple[int, ...]]:
    """Key names and shapes of the reference implementation's ResnetGenerator (instance norm)."""
    layout = {
        "model.1.weight": (ngf, 3, 7, 7), "model.1.bias": (ngf,),
        "model.4.weight": (ngf * 2, ngf, 3, 3), "model.4.bias": (ngf * 2,),
        "model.7.weight": (ngf * 4, ngf * 2, 3, 3), "model.7.bias": (ngf * 4,),
    }
    for i in range(10, 10 + n_blocks):
        for conv in (1, 5):
            layout[f"model.{i}.conv_block.{conv}.weight"] = (ngf * 4, ngf * 4, 3, 3)
            layout[f"model.{i}.conv_block.{conv}.bias"] = (ngf * 4,)
    up = 10 + n_blocks
    layout |= {
        f"model.{up}.weight": (ngf * 4, ngf * 2, 3, 3), f"model.{up}.bias": (ngf * 2,),
        f"model.{up + 3}.weight": (ngf * 2, ngf, 3, 3), f"model.{up + 3}.bias": (ngf,),
        f"model.{up + 7}.weight": (3, ngf, 7, 7), f"model.{up + 7}.bias": (3,),
    }
    return layout


@pytest.mark.parametrize("n_blocks, count", [(9, 48), (6, 36)])
def test_generator_state_dict_matches_official_layout(n_blocks, count):
    state = ResnetGenerator(ngf=64, n_blocks=n_blocks).state_dict()
    expected = official_generator_layout(n_blocks)
    assert len(state) == count
    assert list(state) == list(expected)  # same names, same order
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def test_nine_block_names_are_the_ones_the_official_files_use():
    names = set(ResnetGenerator(n_blocks=9).state_dict())
    for name in ("model.1.weight", "model.10.conv_block.1.weight", "model.18.conv_block.5.bias",
                 "model.19.weight", "model.22.bias", "model.26.weight"):
        assert name in names
    assert not any("running" in n or "num_batches" in n for n in names)


def test_affine_norm_adds_scale_and_shift():
    state = ResnetGenerator(ngf=8, n_blocks=1, norm="instance_affine").state_dict()
    assert state["model.2.weight"].shape == (8,) and state["model.2.bias"].shape == (8,)
    assert "model.10.conv_block.6.weight" in state


@pytest.mark.parametrize("size", [(32, 32), (36, 60), (8, 8)])
def test_generator_keeps_size_for_multiples_of_four_and_outputs_tanh_range(size):
    g = init_weights(ResnetGenerator(ngf=8, n_blocks=2)).eval()
    y = g(torch.randn(1, 3, *size) * 3)
    assert y.shape == (1, 3, *size)
    assert y.abs().max() <= 1.0


def test_patchgan_is_70x70_with_reference_layout():
    d = NLayerDiscriminator(ndf=64, n_layers=3)
    keys = list(d.state_dict())
    assert keys == ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias",
                    "model.5.weight", "model.5.bias", "model.8.weight", "model.8.bias",
                    "model.11.weight", "model.11.bias"]
    assert d.state_dict()["model.8.weight"].shape == (512, 256, 4, 4)
    assert d(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    # Receptive field of one score is 70×70 (InstanceNorm couples everything globally, so it is
    # left out for this measurement).
    for i, layer in enumerate(d.model):
        if isinstance(layer, torch.nn.InstanceNorm2d):
            d.model[i] = torch.nn.Identity()
    x = torch.randn(1, 3, 256, 256, requires_grad=True)
    d(x)[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)))
    assert rows.max() - rows.min() + 1 == 70


def test_discriminator_layers_configurable():
    assert NLayerDiscriminator(ndf=8, n_layers=2)(torch.randn(1, 3, 64, 64)).shape == (1, 1, 14, 14)


def test_init_weights_is_normal_0_002():
    torch.manual_seed(0)
    g = init_weights(ResnetGenerator(ngf=32, n_blocks=2))
    w = g.model[7].weight
    assert abs(w.mean().item()) < 2e-3 and abs(w.std().item() - 0.02) < 2e-3
    assert torch.count_nonzero(g.model[7].bias) == 0
