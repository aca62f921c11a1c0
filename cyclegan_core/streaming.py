"""Any-size translation with the whole image's InstanceNorm statistics, streamed one norm at a time.

InstanceNorm (Ulyanov et al.; the paper's Sec. 4) normalises every channel with the mean and
variance of the *whole* image, which is what makes naive tiling show seams. Here the ResNet
generator (`networks.ResnetGenerator`, c7s1-64, d128, d256, n×R256, u128, u64, c7s1-3) is run
pass by pass over the whole image: each pass computes one norm's input in fixed-size windows,
merges its per-channel moments over the whole image, and only then is that norm applied. The
result is the whole-image pass up to float rounding (≈70 dB PSNR on a trained generator), so
there is nothing to blend and no seam can appear.

Memory: between passes the 1/4-resolution residual stream (4·ngf channels) is kept in fp16, in
three buffers (block input x, first conv y, second conv z): 96 bytes per input pixel for ngf 64,
1.5 GB at 4096². Everything else is one window at a time. Encoder and decoder layers are
recomputed per pass instead of stored at full resolution (≈10 % more arithmetic than one pass).
Windows all have the same shape (the last one in a row or column is shifted inward), so a
compiled window function compiles once (see `fast.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .inference import autocast, pad_to_multiple
from .networks import ResnetGenerator

CORE = 64  # window core, in 1/4-resolution pixels (256 px at full resolution)
FULL_HALO = 2  # context (1/4-resolution pixels, i.e. 8 px) for passes with full-resolution layers
HALO = 1  # context for passes whose layers are all 3×3 at 1/4 or 1/2 resolution
STORAGE_DTYPE = torch.float16  # ≈70 dB vs fp32 storage; bf16 storage would give ≈60 dB


class _Overflow(Exception):
    """A stored activation did not fit in fp16; the pass is redone with fp32 storage."""


class Moments:
    """Per-channel mean and (biased) variance of everything added: fp32 sums per window, merged
    in float64 over the whole image."""

    def __init__(self, channels: int):
        self.count = 0
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.squares = torch.zeros(channels, dtype=torch.float64)

    def add(self, t: torch.Tensor) -> None:
        self.count += t.shape[0] * t.shape[2] * t.shape[3]
        self.sum += t.sum(dim=(0, 2, 3)).double().cpu()
        self.squares += torch.linalg.vector_norm(t, 2, dim=(0, 2, 3)).double().square().cpu()

    def statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, var) as 1×C×1×1 float32, the shape `tiling.fixed_norm_statistics` takes."""
        mean = self.sum / self.count
        var = (self.squares / self.count - mean * mean).clamp_min(0)
        return mean.float().view(1, -1, 1, 1), var.float().view(1, -1, 1, 1)


def norm_affine(norm: nn.InstanceNorm2d, moments: Moments) -> tuple[torch.Tensor, torch.Tensor]:
    """InstanceNorm with known statistics is a per-channel affine map: y = x·scale + shift."""
    mean, var = moments.statistics()
    scale = torch.rsqrt(var + norm.eps)
    shift = -mean * scale
    if norm.affine:
        weight, bias = norm.weight.detach().float().view(1, -1, 1, 1), norm.bias.detach().float().view(1, -1, 1, 1)
        scale, shift = scale * weight, shift * weight + bias
    return scale, shift


# Window functions: plain functions of tensors (weights are arguments), so one compiled version
# serves every residual block. (s, t) is a norm as a per-channel affine map (`norm_affine`).

def enc1(x, w0, b0):
    """c7s1-64 before its norm, from the input image."""
    return F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), w0, b0)


def enc2(x, w0, b0, s0, t0, w1, b1):
    """d128 before its norm, from the input image."""
    return F.conv2d(torch.relu(enc1(x, w0, b0) * s0 + t0), w1, b1, stride=2, padding=1)


def enc3(c, s1, t1, w2, b2):
    """d256 before its norm, from d128 before its norm."""
    return F.conv2d(torch.relu(c * s1 + t1), w2, b2, stride=2, padding=1)


def block_conv1(x, w, b):
    """A residual block's first 3×3 conv (reflection padded), before its norm."""
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w, b)


def block_conv2(y, s, t, w, b):
    """Norm + ReLU of the first conv, then the second 3×3 conv, before its norm."""
    return F.conv2d(F.pad(torch.relu(y * s + t), (1, 1, 1, 1), mode="reflect"), w, b)


def dec1(x, w0, b0):
    """u128 before its norm, from the residual stream."""
    return F.conv_transpose2d(x, w0, b0, stride=2, padding=1, output_padding=1)


def dec2(u, s0, t0, w1, b1):
    """u64 before its norm, from u128 before its norm."""
    return F.conv_transpose2d(torch.relu(u * s0 + t0), w1, b1, stride=2, padding=1, output_padding=1)


def dec3(u, s0, t0, w1, b1, s1, t1, w2, b2):
    """c7s1-3 and Tanh, the output, from u128 before its norm."""
    h = torch.relu(dec2(u, s0, t0, w1, b1) * s1 + t1)
    return torch.tanh(F.conv2d(F.pad(h, (3, 3, 3, 3), mode="reflect"), w2, b2))


WINDOW_FUNCTIONS = {f.__name__: f for f in (enc1, enc2, enc3, block_conv1, block_conv2, dec1, dec2, dec3)}


@dataclass(frozen=True)
class Window:
    """A window over the 1/4-resolution grid: [y0, y1) × [x0, x1), of which it owns (writes and
    counts) [oy0, oy1) × [ox0, ox1). Owned regions of a sweep partition the grid."""

    y0: int
    y1: int
    x0: int
    x1: int
    oy0: int
    oy1: int
    ox0: int
    ox1: int

    def input(self, t: torch.Tensor, scale: int = 1) -> torch.Tensor:
        return t[..., self.y0 * scale:self.y1 * scale, self.x0 * scale:self.x1 * scale]

    def owned(self, out: torch.Tensor, scale: int = 1) -> torch.Tensor:
        """The owned part of this window's output, which is at `scale` × the 1/4 resolution."""
        return out[..., (self.oy0 - self.y0) * scale:(self.oy1 - self.y0) * scale,
                   (self.ox0 - self.x0) * scale:(self.ox1 - self.x0) * scale]

    def target(self, t: torch.Tensor, scale: int = 1) -> torch.Tensor:
        return t[..., self.oy0 * scale:self.oy1 * scale, self.ox0 * scale:self.ox1 * scale]


def spans(length: int, core: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(start, end, own_start, own_end) along one axis: windows of one size, min(length, core + 2·halo),
    each owning up to `core` pixels at least `halo` from its inner edges; owned spans partition
    [0, length)."""
    size = core + 2 * halo
    if length <= size:
        return [(0, length, 0, length)]
    result, own = [], 0
    while own < length:
        own_end = min(own + core, length)
        start = min(max(own - halo, 0), length - size)
        result.append((start, start + size, own, own_end))
        own = own_end
    return result


def sweep(height: int, width: int, halo: int, core: int = CORE) -> Iterator[Window]:
    for y0, y1, oy0, oy1 in spans(height, core, halo):
        for x0, x1, ox0, ox1 in spans(width, core, halo):
            yield Window(y0, y1, x0, x1, oy0, oy1, ox0, ox1)


def generator_parts(generator: ResnetGenerator):
    """The generator's layers by role (indices as in the reference layout, see networks.py)."""
    layers = list(generator.model)
    n_blocks = len(layers) - 19
    blocks = layers[10:10 + n_blocks]
    up = layers[10 + n_blocks:]
    return {
        "enc": (layers[1], layers[2], layers[4], layers[5], layers[7], layers[8]),
        "blocks": [(b.conv_block[1], b.conv_block[2], b.conv_block[5], b.conv_block[6]) for b in blocks],
        "dec": (up[0], up[1], up[3], up[4], up[7]),
    }


def _wb(conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    return conv.weight.detach(), conv.bias.detach()


Runner = Callable[[str, tuple], torch.Tensor]


def eager_runner(name: str, args: tuple) -> torch.Tensor:
    return WINDOW_FUNCTIONS[name](*args)


@torch.inference_mode()
def translate_streamed(generator: ResnetGenerator, x: torch.Tensor, precision: str = "fp32",
                       runner: Runner = eager_runner, core: int = CORE,
                       return_statistics: bool = False):
    """1×3×H×W in [-1, 1] → same size, equal to `generator(x)` with whole-image statistics.

    `runner(name, args)` evaluates one window function (eager by default; `fast.py` passes a
    compiled one). With `return_statistics`, also returns every norm's (mean, var) in module order.
    """
    try:
        return _translate_streamed(generator, x, precision, runner, core, STORAGE_DTYPE, return_statistics)
    except _Overflow:
        return _translate_streamed(generator, x, precision, runner, core, torch.float32, return_statistics)


def _translate_streamed(generator, x, precision, runner, core, storage, return_statistics):
    device = next(generator.parameters()).device
    padded, (height, width) = pad_to_multiple(x.to(device))
    hq, wq = padded.shape[-2] // 4, padded.shape[-1] // 4
    parts = generator_parts(generator)
    statistics: list = []

    def run_pass(name: str, source: torch.Tensor, source_scale: int, out_scale: int, halo: int, args: tuple,
                 store: torch.Tensor | None = None, norm: nn.InstanceNorm2d | None = None):
        """One sweep of a window function over the whole image: the owned parts of its output go
        to `store` (if kept), and their moments over the whole image give `norm`'s affine map."""
        moments = Moments(norm.num_features) if norm is not None else None
        for window in sweep(hq, wq, halo, core):
            with autocast(precision, device):
                out = runner(name, (window.input(source, source_scale).float(), *args)).float()
            owned = window.owned(out, out_scale)
            if moments is not None:
                moments.add(owned)
            if store is None:
                continue
            if store.dtype is torch.float16:
                _check_fits_fp16(owned)
            window.target(store, out_scale).copy_(owned)
        if norm is None:
            return None
        statistics.append(moments.statistics())
        return norm_affine(norm, moments)

    def buffer(channels: int, scale: int) -> torch.Tensor:
        return torch.empty(1, channels, hq * scale, wq * scale, dtype=storage, device=device)

    # Encoder: c7s1-64, d128, d256; each norm's statistics from a pass over the whole image.
    c0, n0, c1, n1, c2, n2 = parts["enc"]
    w0, w1, w2 = _wb(c0), _wb(c1), _wb(c2)
    a0 = run_pass("enc1", padded, 4, 4, FULL_HALO, w0, norm=n0)  # full resolution: not kept
    d128 = buffer(c1.out_channels, 2)
    a1 = run_pass("enc2", padded, 4, 2, FULL_HALO, (*w0, *a0, *w1), store=d128, norm=n1)
    state = buffer(c2.out_channels, 1)
    a2 = run_pass("enc3", d128, 2, 1, HALO, (*a1, *w2), store=state, norm=n2)
    del d128
    _pointwise(state, lambda v, rows: torch.relu(v * a2[0] + a2[1]))

    # Residual blocks (R256): x + norm(conv(relu(norm(conv(x))))).
    first, second = torch.empty_like(state), torch.empty_like(state)
    for conv_a, norm_a, conv_b, norm_b in parts["blocks"]:
        aa = run_pass("block_conv1", state, 1, 1, HALO, _wb(conv_a), store=first, norm=norm_a)
        ab = run_pass("block_conv2", first, 1, 1, HALO, (*aa, *_wb(conv_b)), store=second, norm=norm_b)
        _pointwise(state, lambda v, rows: v + (second[..., rows, :].float() * ab[0] + ab[1]))
    del first, second

    # Decoder: u128, u64, c7s1-3 + Tanh, the last pass writing the output.
    u0, m0, u1, m1, last = parts["dec"]
    u128 = buffer(u0.out_channels, 2)
    d0 = run_pass("dec1", state, 1, 2, HALO, _wb(u0), store=u128, norm=m0)
    del state
    d1 = run_pass("dec2", u128, 2, 4, HALO, (*d0, *_wb(u1)), norm=m1)  # full resolution: not kept
    out = torch.empty(1, last.out_channels, hq * 4, wq * 4, device=device)
    run_pass("dec3", u128, 2, 4, FULL_HALO, (*d0, *_wb(u1), *d1, *_wb(last)), store=out)
    out = out[..., :height, :width]
    return (out, statistics) if return_statistics else out


def _check_fits_fp16(t: torch.Tensor) -> None:
    low, high = torch.aminmax(t)
    if max(-float(low), float(high)) > torch.finfo(torch.float16).max:
        raise _Overflow


def _pointwise(state: torch.Tensor, fn, rows_per_chunk: int = 32) -> None:
    """state ← fn(state, rows) in float32, a band of rows at a time (no full-size float32 temporary)."""
    for r in range(0, state.shape[-2], rows_per_chunk):
        rows = slice(r, r + rows_per_chunk)
        band = state[..., rows, :]
        value = fn(band.float(), rows)
        if state.dtype is torch.float16:
            _check_fits_fp16(value)
        band.copy_(value)
