import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cyclegan_core.nn.networks import (
    NLayerDiscriminator,
    ResnetBlock,
    ResnetGenerator,
    init_weights,
)


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


def _conv(conv, kind, in_channels, out_channels, kernel, stride):
    assert type(conv) is kind
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (
        in_channels, out_channels, (kernel, kernel), (stride, stride))


def _norm(norm, channels, affine):
    assert type(norm) is nn.InstanceNorm2d and norm.num_features == channels and norm.affine == affine


@pytest.mark.parametrize("n_blocks, norm", [(9, "instance"), (2, "instance_affine"), (0, "instance")])
def test_named_accessors_are_the_reference_layout_modules(n_blocks, norm):
    """stem, downsampling, blocks, upsampling, head: the paper's layers, the very `model.N` modules."""
    ngf, affine = 64, norm == "instance_affine"
    g = ResnetGenerator(ngf=ngf, n_blocks=n_blocks, norm=norm)
    m, up = g.model, 10 + n_blocks

    conv, norm_ = g.stem  # c7s1-64
    assert conv is m[1] and norm_ is m[2]
    _conv(conv, nn.Conv2d, 3, ngf, 7, 1)
    _norm(norm_, ngf, affine)

    assert len(g.downsampling) == 2  # d128, d256
    for (conv, norm_), index, channels in zip(g.downsampling, (4, 7), (ngf, ngf * 2)):
        assert conv is m[index] and norm_ is m[index + 1]
        _conv(conv, nn.Conv2d, channels, channels * 2, 3, 2)
        _norm(norm_, channels * 2, affine)

    assert len(g.blocks) == n_blocks  # R256
    for i, block in enumerate(g.blocks):
        assert block is m[10 + i] and type(block) is ResnetBlock
        assert block.conv1 is block.conv_block[1] and block.norm1 is block.conv_block[2]
        assert block.conv2 is block.conv_block[5] and block.norm2 is block.conv_block[6]
        for conv, norm_ in ((block.conv1, block.norm1), (block.conv2, block.norm2)):
            _conv(conv, nn.Conv2d, ngf * 4, ngf * 4, 3, 1)
            _norm(norm_, ngf * 4, affine)

    assert len(g.upsampling) == 2  # u128, u64
    for (conv, norm_), index, channels in zip(g.upsampling, (up, up + 3), (ngf * 4, ngf * 2)):
        assert conv is m[index] and norm_ is m[index + 1]
        _conv(conv, nn.ConvTranspose2d, channels, channels // 2, 3, 2)
        _norm(norm_, channels // 2, affine)

    assert g.head is m[up + 7] and g.head is m[len(m) - 2]  # c7s1-3, then Tanh
    _conv(g.head, nn.Conv2d, ngf, 3, 7, 1)
    assert type(m[len(m) - 1]) is nn.Tanh


@pytest.mark.parametrize("n_blocks", [9, 2])
def test_accessors_leave_the_state_dict_and_modules_unchanged(n_blocks):
    g = ResnetGenerator(ngf=64, n_blocks=n_blocks)
    modules_before = [name for name, _ in g.named_modules()]
    _ = (g.stem, g.downsampling, g.blocks, g.upsampling, g.head,
         [(b.conv1, b.norm1, b.conv2, b.norm2) for b in g.blocks])
    state = g.state_dict()
    assert list(state) == list(official_generator_layout(n_blocks))  # nothing registered twice
    assert [name for name, _ in g.named_modules()] == modules_before
    assert len(list(g.parameters())) == len(state)
    g.load_state_dict(ResnetGenerator(ngf=64, n_blocks=n_blocks).state_dict(), strict=True)


def test_accessors_composed_in_the_papers_order_are_the_generator():
    """c7s1-64, d128, d256, n×R256, u128, u64, c7s1-3, Tanh from the accessors alone equals forward()."""
    torch.manual_seed(0)
    g = init_weights(ResnetGenerator(ngf=8, n_blocks=2, norm="instance_affine")).eval()
    x = torch.rand(1, 3, 20, 28) * 2 - 1

    def c7(conv, t):
        return conv(F.pad(t, (3, 3, 3, 3), mode="reflect"))

    with torch.no_grad():
        conv, norm = g.stem
        y = torch.relu(norm(c7(conv, x)))
        for conv, norm in g.downsampling:
            y = torch.relu(norm(conv(y)))
        for b in g.blocks:
            inner = torch.relu(b.norm1(b.conv1(F.pad(y, (1, 1, 1, 1), mode="reflect"))))
            y = y + b.norm2(b.conv2(F.pad(inner, (1, 1, 1, 1), mode="reflect")))
        for conv, norm in g.upsampling:
            y = torch.relu(norm(conv(y)))
        y = torch.tanh(c7(g.head, y))
        torch.testing.assert_close(y, g(x))


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
