"""Any-size translation with the whole image's InstanceNorm statistics, streamed one norm at a time.

InstanceNorm (Ulyanov et al.; the paper's Sec. 4) normalises every channel with the mean and
variance of the *whole* image, which is what makes naive tiling show seams. Here the ResNet
generator (`networks.ResnetGenerator`, c7s1-64, d128, d256, n×R256, u128, u64, c7s1-3) is run
pass by pass over the whole image: each pass computes one norm's input in fixed-size windows,
merges its per-channel moments over the whole image, and only then is that norm applied (in
place, with its ReLU, to the stored activation). The result is the whole-image pass up to float
rounding, so there is nothing to blend and no seam can appear.

Speed: windows are small enough to stay in cache (a 256² window core at full resolution) and run
channels-last; in bf16 on a CPU with AMX or AVX512-BF16 the convolutions reach ≈2 TFLOP/s on two
cores, about 5× fp32 (`benchmarks/translate_speed.py`). Windows of a pass share one shape (the
last in a row or column is shifted inward), so compiled window functions (`fast.py`) compile once
per image size.

Memory: only 1/4- and 1/2-resolution activations are stored between passes. During the residual
blocks two 1/4-resolution buffers are live, the residual stream x and the block's inner
activation (the second conv's output is written over the first's, a row of windows behind): 64
bytes per input pixel at ngf 64 in bf16, 1.07 GB at 4096², against ≈24 GB for a whole-image pass.
Full-resolution layers are never stored but recomputed in the passes that need them; the
half-resolution ones (d128, u128) are stored while that costs ≤ `KEEP_HALF_BYTES`, recomputed
above. Storage is bf16 for bf16 compute, fp32 for exact fp32, or fp16 (fp32 compute at half the
memory; redone with fp32 storage if a value overflows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .inference import pad_to_multiple
from .networks import ResnetGenerator

CORE = 64  # window core, in 1/4-resolution pixels (256 px at full resolution)
# Context around each window, in 1/4-resolution pixels: 1 (4 px at full resolution) covers one
# 7×7 or two 3×3 layers' reach (window-edge padding spoils at most 3 full-resolution pixels);
# 2 where three layers are chained (`enc3`, `dec3`). The tests check every pass with tiny windows.
HALO = 1
DEEP_HALO = 2
KEEP_HALF_BYTES = 512 << 20  # store d128 / u128 up to this size (8.4 MP in bf16 at ngf 64)
BAND_ELEMENTS = 1 << 20  # values per chunk of an in-place pointwise update (keeps it in cache)

COMPUTE = {"fp32": torch.float32, "bf16": torch.bfloat16}
STORAGES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
CHANNELS_LAST = torch.channels_last


class _Overflow(Exception):
    """A stored activation did not fit in fp16; the translation is redone with fp32 storage."""


class Moments:
    """Per-channel mean and (biased) variance of everything added: fp32 sums per window, merged
    in float64 over the whole image."""

    def __init__(self, channels: int):
        self.count = 0
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.squares = torch.zeros(channels, dtype=torch.float64)

    def add(self, t: torch.Tensor) -> None:
        """Add a 1×C×h×w tensor (any dtype; summed in float32)."""
        pixels = torch.empty(t.shape[2], t.shape[3], t.shape[1], device=t.device)  # h×w×C fp32, a copy
        pixels.copy_(t[0].permute(1, 2, 0))
        self.count += t.shape[2] * t.shape[3]
        self.sum += pixels.sum(dim=1).sum(dim=0).double().cpu()  # rows first: much faster than flat
        self.squares += pixels.square_().sum(dim=1).sum(dim=0).double().cpu()

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
# serves every layer of the same kind. Their inputs are stored activations with norm and ReLU
# already applied, except where a full-resolution layer is recomputed on the fly; (s, t) is a
# norm as a per-channel affine map (`norm_affine`).

def _act(v, s, t):
    """A norm as its affine map, then ReLU."""
    return torch.relu(torch.addcmul(t, v, s))


def enc1(x, w0, b0):
    """c7s1-64 before its norm, from the input image."""
    return F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), w0, b0)


def enc2(x, w0, b0, s0, t0, w1, b1):
    """d128 before its norm, from the input image (c7s1-64 recomputed, normalised, ReLU)."""
    return down(_act(enc1(x, w0, b0), s0, t0), w1, b1)


def enc3(x, w0, b0, s0, t0, w1, b1, s1, t1, w2, b2):
    """d256 before its norm, from the input image (c7s1-64 and d128 recomputed)."""
    return down(_act(enc2(x, w0, b0, s0, t0, w1, b1), s1, t1), w2, b2)


def down(x, w, b):
    """A stride-2 3×3 conv (d128, d256) before its norm, from its activated input."""
    return F.conv2d(x, w, b, stride=2, padding=1)


def conv3(x, w, b):
    """A residual block's 3×3 conv, before its norm, from an input already extended by one pixel
    on every side (real neighbours, or the network's reflection padding at the image border)."""
    return F.conv2d(x, w, b)


def up(x, w, b):
    """A fractionally strided 3×3 conv (u128 from the residual stream, u64 from the activated
    u128), before its norm."""
    return F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)


def head(u, w1, b1, s1, t1, w2, b2):
    """c7s1-3 and Tanh, the output, from the activated u128 (u64 recomputed, normalised, ReLU)."""
    return torch.tanh(F.conv2d(F.pad(_act(up(u, w1, b1), s1, t1), (3, 3, 3, 3), mode="reflect"), w2, b2))


def dec2(x, w0, b0, s0, t0, w1, b1):
    """u64 before its norm, from the residual stream (u128 recomputed, normalised, ReLU)."""
    return up(_act(up(x, w0, b0), s0, t0), w1, b1)


def dec3(x, w0, b0, s0, t0, w1, b1, s1, t1, w2, b2):
    """The output, from the residual stream (u128 and u64 recomputed)."""
    return head(_act(up(x, w0, b0), s0, t0), w1, b1, s1, t1, w2, b2)


WINDOW_FUNCTIONS = {f.__name__: f for f in (enc1, enc2, enc3, down, conv3, up, head, dec2, dec3)}


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

    def owned(self, out: torch.Tensor, scale: int = 1) -> torch.Tensor:
        """The owned part of this window's output, which is at `scale` × the 1/4 resolution."""
        return out[..., (self.oy0 - self.y0) * scale:(self.oy1 - self.y0) * scale,
                   (self.ox0 - self.x0) * scale:(self.ox1 - self.x0) * scale]

    def target(self, t: torch.Tensor, scale: int = 1) -> torch.Tensor:
        return t[..., self.oy0 * scale:self.oy1 * scale, self.ox0 * scale:self.ox1 * scale]


def spans(length: int, core: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(start, end, own_start, own_end) along one axis: ⌈length / core⌉ windows of one size, each
    owning an equal share (≤ core) at least `halo` from its inner edges; owned spans partition
    [0, length)."""
    count = -(-length // core)
    share = -(-length // count)
    size = min(length, share + 2 * halo)
    result = []
    for own in range(0, length, share):
        start = min(max(own - halo, 0), length - size)
        result.append((start, start + size, own, min(own + share, length)))
    return result


def generator_parts(generator: ResnetGenerator):
    """The generator's layers by role (indices as in the reference layout, see networks.py)."""
    layers = list(generator.model)
    n_blocks = len(layers) - 19
    blocks = layers[10:10 + n_blocks]
    up_layers = layers[10 + n_blocks:]
    return {
        "enc": (layers[1], layers[2], layers[4], layers[5], layers[7], layers[8]),
        "blocks": [(b.conv_block[1], b.conv_block[2], b.conv_block[5], b.conv_block[6]) for b in blocks],
        "dec": (up_layers[0], up_layers[1], up_layers[3], up_layers[4], up_layers[7]),
    }


Runner = Callable[[str, tuple], torch.Tensor]


def eager_runner(name: str, args: tuple) -> torch.Tensor:
    return WINDOW_FUNCTIONS[name](*args)


def storage_for(requested: str, resolved: str) -> str:
    """Dtype of the activations stored between passes. bf16 compute stores bf16 (fp32's range:
    nothing can overflow); an explicit "fp32" keeps fp32 (exact to ≈1e-6); "auto" that resolved
    to fp32 stores fp16, half the memory at ≈85 dB (redone in fp32 if a value overflows)."""
    if resolved == "bf16":
        return "bf16"
    return "fp32" if requested == "fp32" else "fp16"


@torch.inference_mode()
def translate_streamed(generator: ResnetGenerator, x: torch.Tensor, precision: str = "fp32",
                       storage: str | None = None, runner: Runner = eager_runner, core: int = CORE,
                       return_statistics: bool = False, keep_half: bool | None = None):
    """1×3×H×W in [-1, 1] → same size (float32), equal to `generator(x)` (whole-image statistics).

    `precision` is the compute dtype ("fp32" or "bf16"); `storage` the dtype of the activations
    kept between passes (default: `storage_for(precision, precision)`; "fp16" falls back to fp32 if
    a value overflows). `keep_half` stores the half-resolution activations (d128, u128) instead of
    recomputing them (≈9 % faster, 64 bytes per input pixel more at ngf 64 in bf16); by default
    only while that costs at most `KEEP_HALF_BYTES`. `runner(name, args)` evaluates one window
    function (eager by default; `fast.py` passes compiled ones). With `return_statistics`, also
    returns every norm's (mean, var) in module order.
    """
    if precision not in COMPUTE:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(COMPUTE)}")
    storage = storage or storage_for(precision, precision)
    if storage not in STORAGES:
        raise ValueError(f"unknown storage {storage!r}; expected one of {', '.join(STORAGES)}")
    if keep_half is None:
        half_bytes = x.shape[-2] * x.shape[-1] // 4 * 2 * generator_parts(generator)["enc"][0].out_channels
        keep_half = half_bytes * STORAGES[storage].itemsize <= KEEP_HALF_BYTES
    arguments = (generator, x, COMPUTE[precision], STORAGES[storage], runner, core, return_statistics, keep_half)
    try:
        return _translate_streamed(*arguments)
    except _Overflow:
        return _translate_streamed(*arguments[:3], torch.float32, *arguments[4:])


def _translate_streamed(generator, x, compute, storage, runner, core, return_statistics, keep_half):
    device = next(generator.parameters()).device
    padded, (height, width) = pad_to_multiple(x.to(device))
    hq, wq = padded.shape[-2] // 4, padded.shape[-1] // 4
    parts = generator_parts(generator)
    statistics: list = []

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(compute).contiguous(memory_format=CHANNELS_LAST)

    def wb(conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        return cast(conv.weight), conv.bias.detach().to(compute)

    def window_input(source: torch.Tensor, window: Window, scale: int, extend: int) -> torch.Tensor:
        height_s, width_s = source.shape[-2:]
        y0, y1 = window.y0 * scale - extend, window.y1 * scale + extend
        x0, x1 = window.x0 * scale - extend, window.x1 * scale + extend
        inside = source[..., max(y0, 0):min(y1, height_s), max(x0, 0):min(x1, width_s)]
        pads = (max(-x0, 0), max(x1 - width_s, 0), max(-y0, 0), max(y1 - height_s, 0))
        t = cast(inside)
        return F.pad(t, pads, mode="reflect") if any(pads) else t

    def run_pass(name: str, source: torch.Tensor, source_scale: int, out_scale: int, halo: int, args: tuple,
                 norm: nn.InstanceNorm2d | None = None, store: torch.Tensor | None = None, extend: int = 0):
        """One sweep of a window function over the whole image: the owned parts of its output go
        to `store` (if kept), and their moments over the whole image give `norm`'s (affine map).

        `extend` fetches that many more source pixels around each window (the function's own
        padding): real pixels inside the image, reflected at its borders, as the network pads.
        `store` may be `source` itself: a window row's results are then written once no later
        window reads those rows (one row of windows is held back), saving a whole buffer."""
        moments = Moments(norm.num_features) if norm is not None else None
        pending: list = []
        rows = spans(hq, core, halo)
        for index, (y0, y1, oy0, oy1) in enumerate(rows):
            for x0, x1, ox0, ox1 in spans(wq, core, halo):
                window = Window(y0, y1, x0, x1, oy0, oy1, ox0, ox1)
                out = runner(name, (window_input(source, window, source_scale, extend), *args))
                owned = window.owned(out, out_scale)
                if moments is not None:
                    moments.add(owned)
                if store is not None:
                    if store.dtype is torch.float16:
                        _check_fits_fp16(owned)
                    pending.append((window, owned))
            next_start = rows[index + 1][0] - -(-extend // source_scale) if index + 1 < len(rows) else hq
            if store is not source:
                next_start = hq
            while pending and pending[0][0].oy1 <= next_start:
                window, owned = pending.pop(0)
                window.target(store, out_scale).copy_(owned)
        if norm is None:
            return None
        statistics.append(moments.statistics())
        return tuple(v.to(device) for v in norm_affine(norm, moments))

    def buffer(channels: int, scale: int) -> torch.Tensor:
        return torch.empty(1, channels, hq * scale, wq * scale, dtype=storage, device=device,
                           memory_format=CHANNELS_LAST)

    def on_the_fly(affine) -> tuple:
        """A norm's affine map as arguments of a window function (compute dtype)."""
        return tuple(v.to(compute) for v in affine)

    # Encoder: c7s1-64, d128, d256, each norm's statistics from a pass over the whole image. The
    # full-resolution layer is recomputed, never stored; d128 is stored if `keep_half`, else
    # recomputed from the input too.
    c0, n0, c1, n1, c2, n2 = parts["enc"]
    w0, w1, w2 = wb(c0), wb(c1), wb(c2)
    a0 = run_pass("enc1", padded, 4, 4, HALO, w0, norm=n0)
    channels = c2.out_channels
    if keep_half:
        d128 = buffer(c1.out_channels, 2)
        a1 = run_pass("enc2", padded, 4, 2, HALO, (*w0, *on_the_fly(a0), *w1), norm=n1, store=d128)
        _pointwise(d128, lambda v, rows: _affine_relu_(v, a1))
        state = buffer(channels, 1)
        a2 = run_pass("down", d128, 2, 1, HALO, w2, norm=n2, store=state)
        del d128
    else:
        a1 = run_pass("enc2", padded, 4, 2, HALO, (*w0, *on_the_fly(a0), *w1), norm=n1)
        state = buffer(channels, 1)
        a2 = run_pass("enc3", padded, 4, 1, DEEP_HALO, (*w0, *on_the_fly(a0), *w1, *on_the_fly(a1), *w2),
                      norm=n2, store=state)
    _pointwise(state, lambda v, rows: _affine_relu_(v, a2))

    # Residual blocks (R256): x ← x + norm(conv(relu(norm(conv(x))))); the second conv's output
    # replaces the first's in the same buffer.
    inner = torch.empty_like(state)
    for conv_a, norm_a, conv_b, norm_b in parts["blocks"]:
        aa = run_pass("conv3", state, 1, 1, 0, wb(conv_a), norm=norm_a, store=inner, extend=1)
        _pointwise(inner, lambda v, rows: _affine_relu_(v, aa))
        ab = run_pass("conv3", inner, 1, 1, 0, wb(conv_b), norm=norm_b, store=inner, extend=1)
        _pointwise(state, lambda v, rows, z=inner: v.addcmul_(z[..., rows, :].float(), ab[0]).add_(ab[1]))
    del inner

    # Decoder: u128, u64, c7s1-3 + Tanh, the last pass writing the output. u128 is stored if
    # `keep_half` (the residual stream is freed then), else recomputed in each pass.
    u0, m0, u1, m1, last = parts["dec"]
    v0, v1, v2 = wb(u0), wb(u1), wb(last)
    out_channels = last.out_channels
    if keep_half:
        u128 = buffer(u0.out_channels, 2)
        d0 = run_pass("up", state, 1, 2, HALO, v0, norm=m0, store=u128)
        del state
        _pointwise(u128, lambda v, rows: _affine_relu_(v, d0))
        d1 = run_pass("up", u128, 2, 4, HALO, v1, norm=m1)
        out = torch.empty(1, out_channels, hq * 4, wq * 4, device=device)
        run_pass("head", u128, 2, 4, HALO, (*v1, *on_the_fly(d1), *v2), store=out)
    else:
        d0 = run_pass("up", state, 1, 2, HALO, v0, norm=m0)
        d1 = run_pass("dec2", state, 1, 4, HALO, (*v0, *on_the_fly(d0), *v1), norm=m1)
        out = torch.empty(1, out_channels, hq * 4, wq * 4, device=device)
        run_pass("dec3", state, 1, 4, DEEP_HALO, (*v0, *on_the_fly(d0), *v1, *on_the_fly(d1), *v2), store=out)
    out = out[..., :height, :width]
    return (out, statistics) if return_statistics else out


def _affine_relu_(v: torch.Tensor, affine: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """v ← relu(v·scale + shift) in place: a norm followed by its ReLU."""
    scale, shift = affine
    return torch.addcmul(shift, v, scale, out=v).relu_()


def _check_fits_fp16(t: torch.Tensor) -> None:
    """Raise _Overflow if a value of `t` exceeds fp16's range (it would become inf)."""
    if not torch.isfinite(t.to(torch.float16)).all():
        raise _Overflow


def _pointwise(buffer: torch.Tensor, fn, elements: int = BAND_ELEMENTS) -> None:
    """buffer ← fn(buffer, rows), computed in float32 a band of rows at a time (in cache, and no
    full-size float32 temporary); fp16 results are checked for overflow."""
    rows = max(1, elements // (buffer.shape[1] * buffer.shape[3]))
    for r in range(0, buffer.shape[-2], rows):
        band_rows = slice(r, r + rows)
        band = buffer[..., band_rows, :]
        if buffer.dtype is torch.float32:
            fn(band, band_rows)
            continue
        value = fn(band.float(), band_rows)
        if buffer.dtype is torch.float16:
            _check_fits_fp16(value)
        band.copy_(value)
