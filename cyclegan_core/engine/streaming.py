"""Any-size translation with the whole image's InstanceNorm statistics, streamed one norm at a time.

InstanceNorm (Ulyanov et al.; the paper's Sec. 4) normalises every channel with the mean and
variance of the *whole* image, which is what makes naive tiling show seams. Here the ResNet
generator (`networks.ResnetGenerator`, c7s1-64, d128, d256, n×R256, u128, u64, c7s1-3) is run
pass by pass over the whole image: each pass computes one norm's input in fixed-size windows,
merges its per-channel moments over the whole image, and only then is that norm applied (in
place, with its ReLU, to the stored activation). The result is the whole-image pass up to float
rounding, so there is nothing to blend and no seam can appear.

Speed: windows are small enough to stay in cache (a 256² window core at full resolution) and run
channels-last, in bf16 where the CPU has native bf16 (AMX, AVX512-BF16); `benchmarks/translate_speed.py`
measures it (results in benchmarks/README.md). Windows of a pass share one shape (the last in a row
or column is shifted inward), so compiled window functions (`compiled.py`) compile once per image
size.

Memory: only 1/4- and 1/2-resolution activations are stored between passes (full-resolution
layers are recomputed in the passes that need them), as bands of rows (`row_bands.py`): a pass
that reads an activation for the last time releases its rows as it goes while its output's rows
are allocated. At most 64 bytes per input pixel are held at ngf 64 in bf16 or fp16 (1.07 GB at
4096²): d128; then the residual stream x and a block's inner activation (the second conv's output
taking the first's rows as they are released); then u128. A whole-image pass holds
full-resolution activations (256 bytes per pixel for each 64-channel fp32 one). Storage is bf16
for bf16 compute, fp32 for exact fp32, or fp16 (fp32 compute at half the memory; redone with fp32
storage if a value overflows).

Structure: `translate_streamed` checks its options and runs a `StreamedTranslation`, whose
`encode` (c7s1-64, d128, d256), `residual_blocks` (n × R256) and `decode` (u128, u64, c7s1-3 +
Tanh) each sweep window functions (defined below) over the image with `run_pass`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan_core.engine.images import pad_to_multiple
from cyclegan_core.engine.kernels.instance_norm import centred_m2, merge_moments
from cyclegan_core.engine.kernels.winograd import cached, conv3x3
from cyclegan_core.engine.row_bands import RowBands
from cyclegan_core.engine.runtime import finish_queued_work, return_free_memory
from cyclegan_core.nn.networks import ResnetGenerator

# Window core, in 1/4-resolution pixels (256 px at full resolution). With the Winograd kernel too,
# a 1024² translation ran faster than with 128² windows, and close to the fastest size tried with
# AVX2 only (benchmarks/README.md).
CORE = 64
# Context around each window, in 1/4-resolution pixels: 1 (4 px at full resolution) covers the
# reach of a 7×7 and a 3×3 layer chained (window-edge padding spoils at most 3 full-resolution
# pixels). The tests check every pass with tiny windows.
HALO = 1
BAND_ELEMENTS = 1 << 20  # values per chunk of an in-place pointwise update (keeps it in cache)
# From this size on, the heap's freed window temporaries go back to the system after each pass
# (`runtime.return_free_memory`: a call costs nothing next to a pass over a large image and leaves
# the process markedly smaller at 4096²). Smaller images hold little and would only pay for it (a
# 256² translation ran much slower with a call after every pass; benchmarks/README.md).
TRIM_PIXELS = 2048 * 2048

COMPUTE = {"fp32": torch.float32, "bf16": torch.bfloat16}
STORAGES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
CHANNELS_LAST = torch.channels_last


class _Overflow(Exception):
    """A stored activation did not fit in fp16; the translation is redone with fp32 storage."""


class Moments:
    """Per-channel mean and (biased) variance of everything added: each window's mean and squared
    deviations from it in float32, windows merged in float64 with Chan's update (`merge_moments`).
    They stay on the activations' device: on a GPU no window waits for a copy to the host."""

    def __init__(self, channels: int):
        self.count = 0
        self.mean = torch.zeros(channels, dtype=torch.float64)
        self.m2 = torch.zeros(channels, dtype=torch.float64)

    def add(self, t: torch.Tensor) -> None:
        """Add a 1×C×h×w tensor (any dtype, layout and device; summed in float32)."""
        n = t.shape[2] * t.shape[3]
        if self.mean.device != t.device:  # the first window: the merged moments live where it does
            self.mean, self.m2 = self.mean.to(t.device), self.m2.to(t.device)
        if t.stride(1) != 1:  # NCHW: each channel's plane
            values = t[0].to(torch.float32, copy=True).flatten(1)  # C×hw fp32, a copy
            sums = values.sum(dim=1).double()
            centre = (sums / n).float()
            squares = values.sub_(centre[:, None]).square_().sum(dim=1).double()
        else:
            values = torch.empty(t.shape[2], t.shape[3], t.shape[1], device=t.device)  # h×w×C fp32, a copy
            values.copy_(t[0].permute(1, 2, 0))
            sums = values.sum(dim=1).sum(dim=0).double()  # rows first: much faster than flat
            centre = (sums / n).float()
            squares = values.sub_(centre).square_().sum(dim=1).sum(dim=0).double()
        mean, m2 = centred_m2(sums, squares, centre.double(), n)
        self.count, self.mean, self.m2 = merge_moments(self.count, self.mean, self.m2, n, mean, m2)

    def statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, var) as 1×C×1×1 float32 on the activations' device, the shape
        `tiling.fixed_norm_statistics` takes."""
        return self.mean.float().view(1, -1, 1, 1), (self.m2 / self.count).float().view(1, -1, 1, 1)


def norm_affine(norm: nn.InstanceNorm2d, moments: Moments) -> tuple[torch.Tensor, torch.Tensor]:
    """InstanceNorm with known statistics is a per-channel affine map: y = x·scale + shift (float32,
    on the statistics' device, where the norm's own weight and bias are brought)."""
    mean, var = moments.statistics()
    scale = torch.rsqrt(var + norm.eps)
    shift = -mean * scale
    if norm.affine:
        weight, bias = (p.detach().to(scale.device, torch.float32).view(1, -1, 1, 1) for p in (norm.weight, norm.bias))
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


def down(x, w, b):
    """A stride-2 3×3 conv (d128, d256) before its norm, from its activated input."""
    return F.conv2d(x, w, b, stride=2, padding=1)


def conv3(x, w, b):
    """A residual block's 3×3 conv, before its norm, from an input already extended by one pixel
    on every side (real neighbours, or the network's reflection padding at the image border).
    With the Winograd kernel, `winograd.conv3x3` runs instead (with transformed weights)."""
    return F.conv2d(x, w, b)


def up(x, w, b):
    """A fractionally strided 3×3 conv (u128 from the residual stream, u64 from the activated
    u128), before its norm. Channels-last, where oneDNN's transposed conv runs faster than in NCHW
    (with AVX2 only: benchmarks/README.md)."""
    x = x.contiguous(memory_format=CHANNELS_LAST)
    return F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)


def head(u, w1, b1, s1, t1, w2, b2):
    """c7s1-3 and Tanh, the output, from the activated u128 (u64 recomputed, normalised, ReLU)."""
    return torch.tanh(F.conv2d(F.pad(_act(up(u, w1, b1), s1, t1), (3, 3, 3, 3), mode="reflect"), w2, b2))


WINDOW_FUNCTIONS = {f.__name__: f for f in (enc1, enc2, down, conv3, up, head)}


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


Runner = Callable[[str, tuple], torch.Tensor]


def eager_runner(name: str, args: tuple) -> torch.Tensor:
    return WINDOW_FUNCTIONS[name](*args)


def storage_for(requested: str, resolved: str) -> str:
    """Dtype of the activations stored between passes. bf16 compute stores bf16 (fp32's range:
    nothing can overflow); an explicit "fp32" keeps fp32 (the whole-image pass up to float
    rounding); "auto" that resolved to fp32 stores fp16, half the memory (redone in fp32 if a
    value overflows)."""
    if resolved == "bf16":
        return "bf16"
    return "fp32" if requested == "fp32" else "fp16"


@torch.inference_mode()
def translate_streamed(generator: ResnetGenerator, x: torch.Tensor, precision: str = "fp32",
                       storage: str | None = None, runner: Runner = eager_runner, core: int | None = None,
                       return_statistics: bool = False, kernel: str = "onednn",
                       progress: Callable[[float], None] | None = None):
    """1×3×H×W in [-1, 1] → same size (float32, on `x`'s device), equal to `generator(x)`
    (whole-image statistics).

    `precision` is the compute dtype ("fp32" or "bf16"); `storage` the dtype of the activations
    kept between passes (default: `storage_for(precision, precision)`; "fp16" falls back to fp32 if
    a value overflows). `core` is the window size in 1/4-resolution pixels (default: `CORE`).
    `runner(name, args)` evaluates one window function (eager by default; `compiled.py` passes
    compiled ones). `kernel="winograd"` runs the residual blocks' 3×3 convs as Winograd transforms
    in fp32 (`kernels.py`, `winograd.py`). `progress(fraction)` is called after every window, the
    fraction weighted by each pass's multiply-adds; an exception it raises stops
    the work. With `return_statistics`, also returns every norm's (mean, var) in module order.
    """
    if precision not in COMPUTE:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(COMPUTE)}")
    storage = storage or storage_for(precision, precision)
    if storage not in STORAGES:
        raise ValueError(f"unknown storage {storage!r}; expected one of {', '.join(STORAGES)}")
    winograd = kernel == "winograd" and precision == "fp32" and x.device.type == "cpu"
    options = {"compute": COMPUTE[precision], "runner": runner, "core": core or CORE, "winograd": winograd,
               "progress": progress}
    result = _attempt(StreamedTranslation(generator, x, storage=STORAGES[storage], **options))
    if result is None:  # a stored value overflowed fp16
        result = _attempt(StreamedTranslation(generator, x, storage=torch.float32, **options))
    out, statistics = result
    out = out.to(x.device)  # as the other paths: the result where the input was
    return (out, statistics) if return_statistics else out


def _attempt(translation: StreamedTranslation) -> tuple[torch.Tensor, list] | None:
    """(output, statistics), or None if fp16 storage overflowed. Returning (rather than retrying
    inside the `except`) lets the failed attempt's buffers go before the retry allocates its own."""
    try:
        return translation.run(), translation.statistics
    except _Overflow:
        return None


class StreamedTranslation:
    """One streamed translation of one image: the generator as passes of window functions.

    `run()` returns the output; `statistics` then holds every norm's (mean, var) in module order.
    Between passes only the padded input and the 1/2- and 1/4-resolution activations are stored,
    as `RowBands` that the last pass reading them releases; `compute` and `storage` are torch
    dtypes."""

    PLAN = ("enc1", "enc2", "down", "conv3", "up", "up", "head")  # conv3: twice per residual block

    def __init__(self, generator: ResnetGenerator, x: torch.Tensor, compute: torch.dtype,
                 storage: torch.dtype, runner: Runner, core: int, winograd: bool = False,
                 progress: Callable[[float], None] | None = None):
        self.generator, self.compute, self.storage = generator, compute, storage
        self.runner, self.core = runner, core
        self.winograd, self.progress, self.done = winograd, progress, 0.0
        self.device = next(generator.parameters()).device
        self.overflow: torch.Tensor | None = None  # a GPU's pending fp16 range check (`check_fits_fp16`)
        self.padded, (self.height, self.width) = pad_to_multiple(x.to(self.device))
        self.hq, self.wq = self.padded.shape[-2] // 4, self.padded.shape[-1] // 4  # the 1/4-resolution grid
        self.statistics: list = []
        passes = [name for name in self.PLAN if name != "conv3"] + ["conv3"] * (2 * len(generator.blocks))
        self.total = sum(self.pass_cost(name) for name in passes) * self.hq * self.wq

    @property
    def per_row(self) -> bool:
        """On a GPU the host waits once per row of windows (progress) and once per pass (the fp16
        range), not several times per window: kernels queue up while the host walks the windows.
        On a CPU the work is done when a window returns: progress after each, checks at once."""
        return self.device.type == "cuda"

    def pass_cost(self, name: str) -> float:
        """Multiply-adds per 1/4-resolution pixel of one pass of window function `name`."""
        c = self.generator.stem[0].out_channels
        full7 = 16 * 49 * 3 * c  # a 7×7 conv between 3 and ngf channels at full resolution
        step = 72 * c * c  # a (fractionally) strided 3×3 conv between resolutions
        return {"enc1": full7, "enc2": full7 + step, "down": step, "conv3": 2 * step, "up": step,
                "head": step + full7}[name]

    def run(self) -> torch.Tensor:
        """The output, 1×3×H×W float32 (`generator(x)` with whole-image statistics)."""
        self.trim()  # what earlier work left in the heap, before the large activations are allocated
        stream = self.encode()
        self.residual_blocks(stream)
        return self.decode(stream).whole(self.height, self.width)

    def encode(self) -> RowBands:
        """c7s1-64, d128, d256, each normalised with its whole-image statistics and ReLU'd: the
        residual stream, stored at 1/4 resolution.

        c7s1-64 (full resolution) is never stored, but recomputed from the input in the pass that
        needs it; d128 is stored, and released as d256 is computed from it."""
        (c0, n0), ((c1, n1), (c2, n2)) = self.generator.stem, self.generator.downsampling
        w0, w1, w2 = self.weights(c0), self.weights(c1), self.weights(c2)
        a0 = self.run_pass("enc1", self.padded, 4, 4, w0, norm=n0)
        d128 = self.buffer(c1.out_channels, 2)
        a1 = self.run_pass("enc2", self.padded, 4, 2, (*w0, *self.on_the_fly(a0), *w1), norm=n1, store=d128)
        self.normalise_relu_(d128, a1)
        stream = self.buffer(c2.out_channels, 1)
        a2 = self.run_pass("down", d128, 2, 1, w2, norm=n2, store=stream, release=True)
        self.normalise_relu_(stream, a2)
        return stream

    def residual_blocks(self, stream: RowBands) -> None:
        """R256 × n, in place: x ← x + norm2(conv2(relu(norm1(conv1(x))))). The block's inner
        activation takes one more 1/4-resolution buffer; conv2's output takes its rows' place as
        they are released."""
        for block in self.generator.blocks:
            inner = self.buffer(stream.channels, 1)
            a1 = self.run_pass("conv3", stream, 1, 1, self.block_weights(block.conv1), norm=block.norm1,
                               store=inner, halo=0, extend=1)
            self.normalise_relu_(inner, a1)
            second = self.buffer(stream.channels, 1)
            a2 = self.run_pass("conv3", inner, 1, 1, self.block_weights(block.conv2), norm=block.norm2,
                               store=second, halo=0, extend=1, release=True)
            del inner
            _add_normalised_(stream, second, a2, self.check_fits_fp16)
            self.raise_if_overflowed()
            del second

    def decode(self, stream: RowBands) -> RowBands:
        """u128, u64, c7s1-3 + Tanh: the output (padded size, float32), written by the last pass.

        u128 is stored (the residual stream released as it is computed); u64 (full resolution)
        is recomputed from it in the last pass."""
        (u0, m0), (u1, m1) = self.generator.upsampling
        head = self.generator.head
        v0, v1, v2 = self.weights(u0), self.weights(u1), self.weights(head)
        u128 = self.buffer(u0.out_channels, 2)
        d0 = self.run_pass("up", stream, 1, 2, v0, norm=m0, store=u128, release=True)
        self.normalise_relu_(u128, d0)
        d1 = self.run_pass("up", u128, 2, 4, v1, norm=m1)
        out = RowBands(head.out_channels, self.hq * 4, self.wq * 4, torch.float32, self.device)
        self.run_pass("head", u128, 2, 4, (*v1, *self.on_the_fly(d1), *v2), store=out, release=True)
        return out

    def run_pass(self, name: str, source: torch.Tensor | RowBands, source_scale: int, out_scale: int, args: tuple,
                 norm: nn.InstanceNorm2d | None = None, store: RowBands | None = None, halo: int = HALO,
                 extend: int = 0, release: bool = False) -> tuple[torch.Tensor, torch.Tensor] | None:
        """One sweep of window function `name` over the whole image; returns `norm` as its affine
        map (`norm_affine`) from the output's whole-image moments, if a norm is given.

        `source` is at `source_scale` × the 1/4 resolution, the output at `out_scale` ×; its owned
        parts go to `store` (if kept). `extend` fetches that many more source pixels around each
        window (see `window_input`). With `release`, this is the last pass to read `source`: its
        rows go as the sweep passes."""
        moments = Moments(norm.num_features) if norm is not None else None
        rows, columns = spans(self.hq, self.core, halo), spans(self.wq, self.core, halo)
        for index, (y0, y1, oy0, oy1) in enumerate(rows):
            for x0, x1, ox0, ox1 in columns:
                window = Window(y0, y1, x0, x1, oy0, oy1, ox0, ox1)
                inputs = (self.window_input(source, window, source_scale, extend), *args)
                if self.winograd and name == "conv3":  # eager matrix products (compiling pays on GPUs only)
                    out = conv3x3(*inputs)
                else:
                    out = self.runner(name, inputs)
                owned = window.owned(out, out_scale)
                if moments is not None:
                    moments.add(owned)
                if store is not None:
                    if store.dtype is torch.float16:
                        self.check_fits_fp16(owned)
                    store.write(window.oy0 * out_scale, window.ox0 * out_scale, owned)
                if self.progress is not None:
                    self.done += self.pass_cost(name) * (window.oy1 - window.oy0) * (window.ox1 - window.ox0)
                    if not self.per_row:
                        self.progress(min(1.0, self.done / self.total))
            if release:
                source.release_above(self.unread_rows(rows, index, extend, source_scale) * source_scale)
            if self.progress is not None and self.per_row:
                finish_queued_work(self.device)  # done, not queued: the bar is honest and a Cancel stops here
                self.progress(min(1.0, self.done / self.total))
        self.raise_if_overflowed()
        self.trim()  # the windows' temporaries, freed, would otherwise stay resident
        if norm is None:
            return None
        self.statistics.append(moments.statistics())
        return tuple(v.to(self.device) for v in norm_affine(norm, moments))

    def check_fits_fp16(self, t: torch.Tensor) -> None:
        """Raise _Overflow if `t` does not fit fp16: at once on a CPU; on a GPU the check is queued
        with the work and read once, at the end of the pass (`raise_if_overflowed`)."""
        if not self.per_row:
            _check_fits_fp16(t)
            return
        low, high = torch.aminmax(t)
        bad = ~((low >= -FP16_MAX) & (high <= FP16_MAX))  # NaN compares false: flagged too
        self.overflow = bad if self.overflow is None else self.overflow | bad

    def raise_if_overflowed(self) -> None:
        """Raise _Overflow if a queued fp16 check of this pass failed (one wait per pass)."""
        overflow, self.overflow = self.overflow, None
        if overflow is not None and bool(overflow):
            raise _Overflow

    def unread_rows(self, rows: list, index: int, extend: int, source_scale: int) -> int:
        """The first 1/4-resolution row that windows after row `index` of `rows` still read: those
        above it may be released (the next row's windows start `extend` source pixels higher)."""
        if index + 1 == len(rows):
            return self.hq
        return max(0, rows[index + 1][0] - -(-extend // source_scale))

    def window_input(self, source: torch.Tensor | RowBands, window: Window, scale: int, extend: int) -> torch.Tensor:
        """The part of `source` (at `scale` × the 1/4 resolution) under `window`, `extend` pixels
        more on every side: real pixels inside the image, reflected at its borders (as the network
        pads), in the compute dtype and layout."""
        height, width = source.shape[-2:]
        y0, y1 = window.y0 * scale - extend, window.y1 * scale + extend
        x0, x1 = window.x0 * scale - extend, window.x1 * scale + extend
        top, bottom, left, right = max(y0, 0), min(y1, height), max(x0, 0), min(x1, width)
        if isinstance(source, RowBands):
            t = source.read(top, bottom, left, right, self.compute, CHANNELS_LAST)
        else:
            t = self.cast(source[..., top:bottom, left:right])
        pads = (max(-x0, 0), max(x1 - width, 0), max(-y0, 0), max(y1 - height, 0))
        return F.pad(t, pads, mode="reflect") if any(pads) else t

    def trim(self) -> None:
        """Return the heap's free memory to the system, for large images (`TRIM_PIXELS`)."""
        if self.hq * self.wq * 16 >= TRIM_PIXELS:
            return_free_memory()

    def cast(self, t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(self.compute).contiguous(memory_format=CHANNELS_LAST)

    def weights(self, conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """A conv's (weight, bias) as window-function arguments."""
        return self.cast(conv.weight), conv.bias.detach().to(self.compute)

    def block_weights(self, conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
        """A residual conv's arguments: with the Winograd kernel, its transformed weights (kept per
        module, `winograd.cached`) and bias."""
        if self.winograd:
            return cached(conv), conv.bias.detach().to(self.compute)
        return self.weights(conv)

    def normalise_relu_(self, buffer: RowBands, affine: tuple[torch.Tensor, torch.Tensor]) -> None:
        """`_normalise_relu_` with this translation's fp16 range check."""
        _normalise_relu_(buffer, affine, self.check_fits_fp16)
        self.raise_if_overflowed()

    def on_the_fly(self, affine: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A norm's affine map as arguments of a window function that recomputes its layer."""
        return tuple(v.to(self.compute) for v in affine)

    def buffer(self, channels: int, scale: int) -> RowBands:
        """A stored activation at `scale` × the 1/4 resolution, in the storage dtype."""
        return RowBands(channels, self.hq * scale, self.wq * scale, self.storage, self.device, CHANNELS_LAST)


def _normalise_relu_(buffer: RowBands, affine: tuple[torch.Tensor, torch.Tensor], check=None) -> None:
    """buffer ← relu(norm(buffer)), in place: a stored activation's norm (as its affine map) and ReLU.
    `check` tests fp16 results (default: `_check_fits_fp16`)."""
    for band in buffer.allocated():
        _pointwise(band, lambda v, rows: _affine_relu_(v, affine), check=check)


def _add_normalised_(stream: RowBands, inner: RowBands, affine: tuple[torch.Tensor, torch.Tensor],
                     check=None) -> None:
    """stream ← stream + norm(inner), in place: a residual block's second norm and skip connection
    (the two are banded alike: same shape and dtype)."""
    scale, shift = affine
    for band, inner_band in zip(stream.allocated(), inner.allocated(), strict=True):
        _pointwise(band, lambda v, rows, inner_band=inner_band:
                   v.addcmul_(inner_band[..., rows, :].float(), scale).add_(shift), check=check)


def _affine_relu_(v: torch.Tensor, affine: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """v ← relu(v·scale + shift) in place: a norm followed by its ReLU."""
    scale, shift = affine
    return torch.addcmul(shift, v, scale, out=v).relu_()


FP16_MAX = torch.finfo(torch.float16).max


def _check_fits_fp16(t: torch.Tensor) -> None:
    """Raise _Overflow if a value of `t` exceeds fp16's range (it would become inf), or is NaN."""
    low, high = torch.aminmax(t)
    if not (-FP16_MAX <= float(low) and float(high) <= FP16_MAX):
        raise _Overflow


def _pointwise(buffer: torch.Tensor, fn, elements: int = BAND_ELEMENTS, check=None) -> None:
    """buffer ← fn(buffer, rows), computed in float32 a band of rows at a time (in cache, and no
    full-size float32 temporary); fp16 results are checked for overflow by `check` (default
    `_check_fits_fp16`)."""
    rows = max(1, elements // (buffer.shape[1] * buffer.shape[3]))
    for r in range(0, buffer.shape[-2], rows):
        band_rows = slice(r, r + rows)
        band = buffer[..., band_rows, :]
        if buffer.dtype is torch.float32:
            fn(band, band_rows)
            continue
        value = fn(band.float(), band_rows)
        if buffer.dtype is torch.float16:
            (check or _check_fits_fp16)(value)
        band.copy_(value)
