"""An independent forward pass of the reference ResNet generator, written with torch.nn.functional
straight from a state dict in the official key layout (junyanz/pytorch-CycleGAN-and-pix2pix,
`ResnetGenerator` with InstanceNorm, no dropout, reflection padding). It shares no code with
`cyclegan_core`, so agreement between the two is evidence, not tautology."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _norm(x, state, index):
    weight, bias = state.get(f"{index}.weight"), state.get(f"{index}.bias")
    return F.instance_norm(x, weight=weight, bias=bias, eps=1e-5)


def reference_forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    s = {k.removeprefix("module."): v.float() for k, v in state.items()}
    n_blocks = len({k.split(".")[1] for k in s if ".conv_block." in k})
    h = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), s["model.1.weight"], s["model.1.bias"])
    h = F.relu(_norm(h, s, "model.2"))
    for conv in (4, 7):
        h = F.conv2d(h, s[f"model.{conv}.weight"], s[f"model.{conv}.bias"], stride=2, padding=1)
        h = F.relu(_norm(h, s, f"model.{conv + 1}"))
    for i in range(10, 10 + n_blocks):
        p = f"model.{i}.conv_block"
        r = F.conv2d(F.pad(h, (1, 1, 1, 1), mode="reflect"), s[f"{p}.1.weight"], s[f"{p}.1.bias"])
        r = F.relu(_norm(r, s, f"{p}.2"))
        r = F.conv2d(F.pad(r, (1, 1, 1, 1), mode="reflect"), s[f"{p}.5.weight"], s[f"{p}.5.bias"])
        h = h + _norm(r, s, f"{p}.6")
    up = 10 + n_blocks
    for conv in (up, up + 3):
        h = F.conv_transpose2d(h, s[f"model.{conv}.weight"], s[f"model.{conv}.bias"], stride=2, padding=1,
                               output_padding=1)
        h = F.relu(_norm(h, s, f"model.{conv + 1}"))
    last = up + 7
    return torch.tanh(F.conv2d(F.pad(h, (3, 3, 3, 3), mode="reflect"), s[f"model.{last}.weight"],
                               s[f"model.{last}.bias"]))


def reference_translate(state: dict[str, torch.Tensor], rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 (H, W multiples of 4) → H×W×3 float in [0, 255], the reference's test-time maths:
    ToTensor + Normalize(0.5, 0.5) in, (y + 1) / 2 · 255 out."""
    x = torch.from_numpy(rgb).permute(2, 0, 1).float().unsqueeze(0) / 255.0
    x = (x - 0.5) / 0.5
    with torch.no_grad():
        y = reference_forward(state, x)
    return ((y[0].permute(1, 2, 0).numpy() + 1) / 2.0 * 255.0).astype(np.float64)


def official_state_dict(ngf: int = 8, n_blocks: int = 2, seed: int = 0, legacy_keys: bool = True,
                        module_prefix: bool = False) -> dict[str, torch.Tensor]:
    """A generator state dict shaped like the official files: random N(0, 0.02) weights, plus the
    legacy InstanceNorm running-statistics keys old PyTorch wrote (and optionally `module.`)."""
    g = torch.Generator().manual_seed(seed)
    state = {}

    def conv(index, cin, cout, k, transposed=False):
        shape = (cin, cout, k, k) if transposed else (cout, cin, k, k)
        state[f"{index}.weight"] = torch.randn(shape, generator=g) * 0.02
        state[f"{index}.bias"] = torch.randn(cout, generator=g) * 0.02

    def norm(index, c):
        if legacy_keys:
            state[f"{index}.running_mean"] = torch.zeros(c)
            state[f"{index}.running_var"] = torch.ones(c)
            state[f"{index}.num_batches_tracked"] = torch.tensor(0)

    conv("model.1", 3, ngf, 7); norm("model.2", ngf)
    conv("model.4", ngf, ngf * 2, 3); norm("model.5", ngf * 2)
    conv("model.7", ngf * 2, ngf * 4, 3); norm("model.8", ngf * 4)
    for i in range(10, 10 + n_blocks):
        conv(f"model.{i}.conv_block.1", ngf * 4, ngf * 4, 3); norm(f"model.{i}.conv_block.2", ngf * 4)
        conv(f"model.{i}.conv_block.5", ngf * 4, ngf * 4, 3); norm(f"model.{i}.conv_block.6", ngf * 4)
    up = 10 + n_blocks
    conv(f"model.{up}", ngf * 4, ngf * 2, 3, transposed=True); norm(f"model.{up + 1}", ngf * 2)
    conv(f"model.{up + 3}", ngf * 2, ngf, 3, transposed=True); norm(f"model.{up + 4}", ngf)
    conv(f"model.{up + 7}", ngf, 3, 7)
    if module_prefix:
        state = {f"module.{k}": v for k, v in state.items()}
    return state
