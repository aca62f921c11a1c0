"""The paper's networks, laid out exactly as the reference implementation lays them out.

Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks"
(ICCV 2017), Appendix 7.2. Module indices match junyanz/pytorch-CycleGAN-and-pix2pix
(`models/networks.py`), so the official pretrained generators load with `strict=True`:
`model.1` is the first conv, `model.10 … model.18` the nine residual blocks, `model.26` the last conv.
Code that needs a layer by its role uses the named accessors (`ResnetGenerator.stem`,
`.downsampling`, `.blocks`, `.upsampling`, `.head`; `ResnetBlock.conv1` …), never these indices.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("instance", "instance_affine")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """InstanceNorm as in the paper (Sec. 4, Ulyanov et al.): no running statistics.

    `instance` is the reference's choice (no affine parameters, so no state-dict keys);
    `instance_affine` adds a learned scale and shift, as some third-party CycleGANs do.
    """
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "instance_affine":
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    raise ValueError(f"unknown norm {kind!r}; expected one of {', '.join(NORMS)}")


class ResnetBlock(nn.Module):
    """R256 in the paper: two 3×3 convs with reflection padding and a skip connection (He et al.)."""

    def __init__(self, dim: int, norm: str):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
            norm_layer(norm, dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
            norm_layer(norm, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)

    # Read-only views of `conv_block`'s layers (registered there only, so the state-dict keys stay
    # the reference's `conv_block.1`, `.2`, `.5`, `.6`).

    @property
    def conv1(self) -> nn.Conv2d:
        """The first 3×3 conv (applied after reflection padding by 1)."""
        return _children(self.conv_block, nn.Conv2d)[0]

    @property
    def norm1(self) -> nn.InstanceNorm2d:
        """The first conv's norm, followed by ReLU."""
        return _children(self.conv_block, nn.InstanceNorm2d)[0]

    @property
    def conv2(self) -> nn.Conv2d:
        """The second 3×3 conv (applied after reflection padding by 1)."""
        return _children(self.conv_block, nn.Conv2d)[1]

    @property
    def norm2(self) -> nn.InstanceNorm2d:
        """The second conv's norm (no ReLU: its output is added to the block's input)."""
        return _children(self.conv_block, nn.InstanceNorm2d)[1]


class ResnetGenerator(nn.Module):
    """c7s1-64, d128, d256, n×R256, u128, u64, c7s1-3, Tanh (the paper's G and F).

    Input and output are RGB in [-1, 1]. Any size works; the two stride-2 convolutions mean
    sizes that are multiples of 4 come back exactly (callers pad, see `images.pad_to_multiple`).
    """

    def __init__(self, ngf: int = 64, n_blocks: int = 9, norm: str = "instance",
                 in_channels: int = 3, out_channels: int = 3):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, kernel_size=7, padding=0, bias=True),
            norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):  # d128, d256
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=True),
                norm_layer(norm, ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, norm) for _ in range(n_blocks)]
        for mult in (4, 2):  # u128, u64 (fractionally strided)
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=2,
                                   padding=1, output_padding=1, bias=True),
                norm_layer(norm, ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [
            nn.ReflectionPad2d(3),
            nn.Conv2d(ngf, out_channels, kernel_size=7, padding=0),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    # The layers by the paper's names: read-only views that find them in `self.model` by type
    # (each is registered there only, so the state-dict keys stay the reference's `model.N`).

    @property
    def stem(self) -> tuple[nn.Conv2d, nn.InstanceNorm2d]:
        """c7s1-64: the 7×7 conv (after reflection padding by 3) and its norm, followed by ReLU."""
        return _children(self.model, nn.Conv2d)[0], self._norms[0]

    @property
    def downsampling(self) -> list[tuple[nn.Conv2d, nn.InstanceNorm2d]]:
        """d128, d256: (stride-2 3×3 conv, norm) pairs, each followed by ReLU."""
        convs = _children(self.model, nn.Conv2d)[1:-1]
        return list(zip(convs, self._norms[1:1 + len(convs)]))

    @property
    def blocks(self) -> list[ResnetBlock]:
        """The n R256 residual blocks, in order."""
        return _children(self.model, ResnetBlock)

    @property
    def upsampling(self) -> list[tuple[nn.ConvTranspose2d, nn.InstanceNorm2d]]:
        """u128, u64: (fractionally strided 3×3 conv, norm) pairs, each followed by ReLU."""
        convs = _children(self.model, nn.ConvTranspose2d)
        return list(zip(convs, self._norms[-len(convs):]))

    @property
    def head(self) -> nn.Conv2d:
        """c7s1-3: the last 7×7 conv (after reflection padding by 3), followed by Tanh; no norm."""
        return _children(self.model, nn.Conv2d)[-1]

    @property
    def _norms(self) -> list[nn.InstanceNorm2d]:
        """The norms outside the residual blocks: c7s1-64's, d128's, d256's, u128's, u64's."""
        return _children(self.model, nn.InstanceNorm2d)


def _children(sequence: nn.Sequential, kind: type) -> list:
    """The direct children of `sequence` that are instances of `kind`, in order."""
    return [module for module in sequence if isinstance(module, kind)]


class NLayerDiscriminator(nn.Module):
    """The 70×70 PatchGAN (C64-C128-C256-C512 for n_layers=3): one real/fake score per patch.

    LeakyReLU 0.2, no norm on the first layer, a 1-channel conv at the end (Isola et al.).
    """

    def __init__(self, ndf: int = 64, n_layers: int = 3, norm: str = "instance", in_channels: int = 3):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=stride, padding=1, bias=True),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers += [nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The paper's initialisation: conv weights ~ N(0, 0.02), biases 0, affine norm scale ~ N(1, 0.02)."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.InstanceNorm2d) and module.affine:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return net
