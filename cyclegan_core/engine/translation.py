"""Translating a whole image tensor with one generator: which path runs it.

- `translate_whole`: the whole image in one pass (memory grows with the image). With oneDNN's
  kernels in fp32 this is the reference way; with the Winograd kernel (`kernels.py`, `winograd.py`)
  the same maths, channels-last, faster on CPUs without native bf16.
- Streamed window by window with exact whole-image InstanceNorm statistics (`streaming.py`): the
  same result in bounded memory, up to `stream_pixels()`.
- Above: overlapping tiles normalised with a streamed thumbnail's statistics (`tiling.py`).
- Another runtime's whole-image pass (OpenVINO, onnxruntime: `backends.py`) where it is faster.

`choose_path` decides from the hardware and the size (see its docstring); `translate_tensor` runs
the choice; `CycleGAN.translate_tensor` calls it. Every path reports progress (a fraction of the
arithmetic done) to an optional callback, which may raise to cancel.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan_core.engine import backends
from cyclegan_core.engine.images import pad_to_multiple
from cyclegan_core.engine.kernels.choice import conv2d, conv_kernel
from cyclegan_core.engine.kernels.instance_norm import instance_norm_
from cyclegan_core.engine.runtime import autocast, finish_queued_work, gpu_math, resolve_precision
from cyclegan_core.engine.streaming import TRIM_PIXELS, Runner, eager_runner, storage_for, translate_streamed
from cyclegan_core.engine.tiling import translate_tiled
from cyclegan_core.errors import DeviceMemoryError

Progress = Callable[[float], None]  # called with the fraction done, 0 → 1; may raise to cancel

DEFAULT_STREAM_PIXELS = 4096 * 4096  # exact streamed translation up to here (16.8 MP)


def stream_pixels() -> int:
    """Largest image translated exactly (streamed); larger ones are tiled with statistics from a
    copy downscaled to this size. `CYCLEGAN_STREAM_PIXELS` overrides."""
    value = os.environ.get("CYCLEGAN_STREAM_PIXELS")
    return int(value) if value else DEFAULT_STREAM_PIXELS


def translate_tensor(generator: nn.Module, x: torch.Tensor, precision: str = "auto",
                     runner: Runner = eager_runner, progress: Progress | None = None) -> torch.Tensor:
    """1×3×H×W in [-1, 1] → same shape, any H and W, equal to the whole-image pass.

    `precision="fp32"` is fp32 end to end (reference parity up to float rounding); `auto` is bf16
    where the hardware has it, else fp32 compute (with fp16 storage between streamed passes,
    `streaming.storage_for`). `runner` evaluates the streamed window functions (compiled ones from
    `compiled.py`, or eager). `progress(fraction)` is called as the work advances; an exception it
    raises stops the translation (that is how a Cancel frees the CPU at once).

    On a GPU, "fp32" runs without TF32 (`runtime.gpu_math`); a whole pass that runs out of memory
    after all (the estimate cannot see other processes) is redone streamed or tiled; out of memory
    there too is a `DeviceMemoryError` that says what to do. The result is on `x`'s device.
    """
    device = next(generator.parameters()).device
    height, width = x.shape[-2:]
    ngf = generator_width(generator)
    choice = choose_path(height * width, ngf, precision, device, shape=(height, width))
    with gpu_math(precision, device):
        done = _unless_out_of_memory(generator, x, choice, precision, runner, progress)
        if done is None and choice.path == "whole":
            _release_cached_memory(device)
            choice = choose_path(height * width, ngf, precision, device, shape=(height, width), allow_whole=False)
            done = _unless_out_of_memory(generator, x, choice, precision, runner, progress)
    if done is None:
        _release_cached_memory(device)
        where = "the GPU" if device.type == "cuda" else "this machine"
        raise DeviceMemoryError(
            f"{where} ran out of memory translating this {width}×{height} image ({choice.describe()}); try a "
            f"smaller image, or free memory on {device} (other processes may be using it)",
            public="The server ran out of memory for this picture: try a smaller one, or again in a moment.")
    return done[0]


def _unless_out_of_memory(generator: nn.Module, x: torch.Tensor, choice: "PathChoice", precision: str,
                          runner: Runner, progress: Progress | None) -> tuple[torch.Tensor] | None:
    """(`run_path`'s result,), or None if the device ran out of memory (returned, not retried inside
    the `except`, so the failed attempt's tensors are gone before another allocates its own)."""
    try:
        return (run_path(generator, x, choice, precision, runner, progress),)
    except torch.OutOfMemoryError:
        return None


def _release_cached_memory(device: torch.device) -> None:
    """Hand the CUDA allocator's cached blocks back after an out-of-memory error."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_path(generator: nn.Module, x: torch.Tensor, choice: "PathChoice", precision: str,
             runner: Runner = eager_runner, progress: Progress | None = None) -> torch.Tensor:
    """Translate `x` on the path `choice` names (`precision`: the one asked for, which decides the
    storage between streamed passes), the result on `x`'s device. A whole fp16 pass (a GPU without
    bf16) whose result is not finite overflowed fp16's range (65504) somewhere: it is redone in fp32."""
    if choice.backend != "torch":
        return backends.run(choice.backend, generator, x, choice.precision, progress).to(x.device)
    if choice.path == "whole":
        y = translate_whole(generator, x, choice.precision, choice.kernel, progress)
        if choice.precision == "fp16" and not bool(torch.isfinite(y).all()):
            y = translate_whole(generator, x, "fp32", choice.kernel, progress)
        return y.to(x.device)
    storage = storage_for(precision, choice.precision)
    if x.shape[-2] * x.shape[-1] >= TRIM_PIXELS:  # a large image: memory a runtime keeps is better used here
        backends.release_idle_memory()
    if choice.path == "tiled":
        return translate_tiled(generator, x, choice.precision, stats_pixels=stream_budget(storage),
                               storage=storage, runner=runner, progress=progress)
    return translate_streamed(generator, x, choice.precision, storage=storage, runner=runner,
                              kernel=choice.kernel, progress=progress)


def warm_up(generator: nn.Module, precision: str = "auto") -> bool:
    """Prepare what the first translation in `precision` would otherwise wait for: the compiled model
    of a runtime backend (`backends.warm_up`, ≈1 s), where the choice for a whole pass on this machine
    is one. True if there was something to prepare."""
    device = next(generator.parameters()).device
    runtime = backends.runtime_for(resolve_precision(precision, device), device)
    if runtime is None:
        return False
    backends.warm_up(runtime[0], generator, runtime[1])
    return True


@dataclass(frozen=True)
class PathChoice:
    """How one image is translated: "whole", "streamed" or "tiled"; the resolved compute precision;
    the fp32 3×3 convolution kernel ("winograd" or "onednn", `kernels.py`); the runtime ("torch",
    or "openvino" / "onnxruntime" for a whole pass: `backends.py`)."""

    path: str
    precision: str
    kernel: str
    backend: str = "torch"

    def describe(self) -> str:
        """E.g. "whole·bf16·openvino" or "streamed·bf16·onednn"."""
        return f"{self.path}·{self.precision}·{self.backend if self.backend != 'torch' else self.kernel}"


def choose_path(pixels: int, ngf: int, precision: str, device: torch.device, shape: tuple[int, int] | None = None,
                allow_whole: bool = True) -> PathChoice:
    """The fastest exact path that fits in memory, decided from the hardware and the size
    (`shape`: the image's height and width, else a square of `pixels`).

    - GPU: one whole-image pass when it fits in free memory (`device_free_bytes`) and in 32-bit
      indexing (`within_index_cap`), else streamed (fp32 compute), tiled beyond the stream budget.
    - CPU with native bf16 (AMX, AVX512-BF16): OpenVINO's whole bf16 pass while it fits
      `whole_pass_budget()` and OpenVINO is installed (about twice as fast: `backends.py`);
      otherwise streamed in bf16. Its cache-sized channels-last windows ran faster than torch's
      whole-image bf16 pass (benchmarks/README.md).
    - CPU without: fp32 with the faster kernel on this CPU (`kernels.choice.conv_kernel`, by its capabilities),
      in one whole-image pass while that fits `whole_pass_budget()` (streaming's extra passes and
      copies make it slower there), streamed above; tiled beyond `stream_pixels()` in either case.
    - `CYCLEGAN_BACKEND` forces a runtime for the whole passes that fit, or torch (`backends.py`).
    - `allow_whole=False`: never one whole pass (a whole pass that ran out of memory after all).
    """
    resolved = resolve_precision(precision, device)
    runtime = runtime_pass(pixels, ngf, resolved, device)
    if allow_whole and runtime is not None:
        return PathChoice("whole", runtime[1], "onednn", backend=runtime[0])
    if device.type == "cuda":
        height, width = shape or (math.isqrt(pixels - 1) + 1,) * 2
        if (allow_whole and whole_pass_fits(pixels, ngf, resolved, device_free_bytes(device))
                and within_index_cap(height, width, ngf)):
            return PathChoice("whole", resolved, "onednn")
        resolved = "fp32" if resolved == "fp16" else resolved
        kernel = "onednn"
    elif resolved == "bf16":
        kernel = "onednn"
    else:
        resolved, kernel = "fp32", conv_kernel(device, pixels)
        if allow_whole and whole_pass_fits(pixels, ngf, "fp32", whole_pass_budget()):
            return PathChoice("whole", "fp32", kernel)
    storage = storage_for(precision, resolved)
    return PathChoice("tiled" if pixels > stream_budget(storage) else "streamed", resolved, kernel)


def runtime_pass(pixels: int, ngf: int, resolved: str, device: torch.device) -> tuple[str, str] | None:
    """(runtime, precision) for a whole pass of `pixels` in the `resolved` precision where a runtime
    takes it (`backends.runtime_for`) and its pass fits `whole_pass_budget()`, else None (torch)."""
    runtime = backends.runtime_for(resolved, device)
    if runtime is not None and backends.pass_bytes(*runtime, pixels, ngf) <= 0.8 * whole_pass_budget():
        return runtime
    return None


DEFAULT_WHOLE_PASS_MB = 1536  # CPU memory one whole-image pass may take (≈1.1 MP at ngf 64 in fp32, with the margin)


def whole_pass_budget() -> int:
    """Bytes a whole-image pass may use on a CPU; `CYCLEGAN_WHOLE_PASS_MB` overrides (0: always stream)."""
    value = os.environ.get("CYCLEGAN_WHOLE_PASS_MB")
    return (int(value) if value else DEFAULT_WHOLE_PASS_MB) << 20


def stream_budget(storage: str) -> int:
    """Largest image streamed exactly with this storage dtype (fp32 storage: half as many pixels)."""
    return stream_pixels() // (2 if storage == "fp32" else 1)


WHOLE_PASS_BYTES = {"fp32": 1100, "bf16": 600, "fp16": 600}  # peak per input pixel at ngf 64, inference mode


def generator_width(generator: nn.Module) -> int:
    """ngf: the channels of the generator's first convolution."""
    return next(m for m in generator.modules() if isinstance(m, nn.Conv2d)).out_channels


def free_device_bytes(free: int, reserved: int, allocated: int) -> int:
    """Memory a pass may take on a CUDA device: what the driver reports free plus what PyTorch's
    caching allocator holds reserved but unused (freed tensors' blocks, kept for reuse)."""
    return free + max(0, reserved - allocated)


def device_free_bytes(device: torch.device) -> int:
    """`free_device_bytes` of a CUDA device now."""
    return free_device_bytes(torch.cuda.mem_get_info(device)[0], torch.cuda.memory_reserved(device),
                             torch.cuda.memory_allocated(device))


INDEX_CAP = 2**31  # CUDA kernels index a tensor's elements with 32-bit integers


def within_index_cap(height: int, width: int, channels: int) -> bool:
    """Whether a whole pass's largest activation stays below 2³¹ elements: the ngf-channel reflection
    padding at full resolution (c7s1-64's input after the stem, and c7s1-3's), of the image padded
    to a multiple of 4 and then by 3 pixels on every side. Above it (≈33 MP at ngf 64) CUDA kernels
    refuse the tensor, however much memory is free."""
    padded_height, padded_width = -(-height // 4) * 4 + 6, -(-width // 4) * 4 + 6
    return channels * padded_height * padded_width < INDEX_CAP


def whole_pass_fits(pixels: int, ngf: int, precision: str, free_bytes: int) -> bool:
    """Whether a whole-image pass of `pixels` fits in `free_bytes` of device memory with a margin
    (the activations at full resolution dominate: ngf channels, a few of them alive at once)."""
    return pixels * WHOLE_PASS_BYTES[precision] * ngf / 64 <= 0.8 * free_bytes


def translate_whole(generator: nn.Module, x: torch.Tensor, precision: str = "fp32", kernel: str = "onednn",
                    progress: Progress | None = None) -> torch.Tensor:
    """The whole padded 1×3×H×W tensor through `generator` in one pass; same size out, float32.
    `precision` is a resolved one ("fp32", "bf16" or "fp16"). With the default kernel and fp32 this
    is the reference way (`generator(x)`); `kernel="winograd"` runs the residual blocks' 3×3
    convolutions as Winograd transforms instead, channels-last (fp32 only). `progress` as in
    `translate_tensor` (here: after each layer, weighted by its multiply-adds)."""
    device = next(generator.parameters()).device
    padded, (height, width) = pad_to_multiple(x.to(device))
    with torch.inference_mode(), autocast(precision, device):
        if kernel == "onednn" and progress is None:
            y = generator(padded)
        else:
            y = LayerByLayer(generator, kernel, progress).run(padded)
    return y[..., :height, :width].float()


class LayerByLayer:
    """`generator.model` run one top-level layer at a time: the same modules, except that a
    reflection padding followed by a stride-1 convolution (c7s1-64, each residual conv, c7s1-3) runs
    as one `kernels.conv2d` call with the chosen kernel. With the Winograd kernel in fp32 every
    activation is channels-last (the layout its matrix products and oneDNN's transposed convs are
    fastest in) and InstanceNorm runs as `instance_norm.instance_norm_` (torch's is much slower
    channels-last). Reports progress after each layer."""

    def __init__(self, generator: nn.Module, kernel: str, progress: Progress | None):
        self.layers = list(generator.model)
        self.kernel, self.progress = kernel, progress
        costs, scale = [], 1.0
        for layer in self.layers:
            cost, scale = _multiply_adds(layer, scale)
            costs.append(cost)
        total = sum(costs) or 1.0
        self.done_after = [sum(costs[:i + 1]) / total for i in range(len(costs))]

    def run(self, x: torch.Tensor) -> torch.Tensor:
        def report(index: int) -> None:
            if self.progress is not None:
                finish_queued_work(x.device)  # the layer done, not queued: a Cancel stops here
                self.progress(self.done_after[index])
        if self.channels_last(x):
            x = x.contiguous(memory_format=torch.channels_last)
        return self.sequence(self.layers, x, report)

    def channels_last(self, x: torch.Tensor) -> bool:
        """Whether activations like `x` run channels-last (Winograd kernel, fp32 on a CPU)."""
        return self.kernel == "winograd" and x.dtype is torch.float32 and x.device.type == "cpu"

    def sequence(self, layers: list, x: torch.Tensor, report: Callable[[int], None] | None = None) -> torch.Tensor:
        index = 0
        while index < len(layers):
            layer = layers[index]
            following = layers[index + 1] if index + 1 < len(layers) else None
            if _fusable(layer, following):
                x = conv2d(F.pad(x, layer.padding, mode="reflect"), following, self.kernel)
                index += 1
            elif isinstance(getattr(layer, "conv_block", None), nn.Sequential):  # a residual block: x + F(x)
                x = self.sequence(list(layer.conv_block), x).add_(x)  # F(x) is a fresh tensor: one 1/4-res tensor less
            elif isinstance(layer, nn.InstanceNorm2d) and self.channels_last(x):
                x = instance_norm_(x.contiguous(memory_format=torch.channels_last), layer)
            else:
                x = layer(x)
            if report is not None:
                report(index)
            index += 1
        return x


def _fusable(layer: nn.Module, following: nn.Module | None) -> bool:
    """A reflection padding followed by an unpadded, undilated, ungrouped stride-1 convolution."""
    return (isinstance(layer, nn.ReflectionPad2d) and isinstance(following, nn.Conv2d)
            and following.stride == (1, 1) and following.padding == (0, 0)
            and following.dilation == (1, 1) and following.groups == 1)


def multiply_adds_per_pixel(generator: nn.Module) -> float:
    """The generator's multiply-adds per input pixel (≈1.5 M for the paper's 9-block one: 99 GFLOP at 256²)."""
    total, scale = 0.0, 1.0
    for layer in generator.model:
        cost, scale = _multiply_adds(layer, scale)
        total += cost
    return total


def _multiply_adds(layer: nn.Module, scale: float) -> tuple[float, float]:
    """(multiply-adds per input pixel of the image, resolution scale after it) of one layer, given
    the resolution scale (relative to the input image, in pixels) before it."""
    total = 0.0
    for module in layer.modules():
        if isinstance(module, nn.Conv2d):
            stride = module.stride[0] * module.stride[1]
            scale /= stride
            total += scale * module.in_channels * module.out_channels * module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, nn.ConvTranspose2d):
            total += scale * module.in_channels * module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            scale *= module.stride[0] * module.stride[1]
    return total, scale
