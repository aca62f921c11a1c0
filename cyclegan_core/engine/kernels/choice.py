"""Which kernel runs the generator's 3×3 stride-1 convolutions in fp32 on this CPU.

Where the CPU has no native bf16 (AMD Zen 3, Intel Xeons before Cooper Lake), translation computes
in fp32, and the residual blocks' 3×3 convolutions (≈88 % of the generator's arithmetic) decide its
speed. oneDNN runs them directly; `winograd.py` runs them as Winograd F(4×4, 3×3) transforms and
batched matrix products (Lavin & Gray, 2016) with 2.25× fewer multiplications, at fp32 accuracy
(relative error ≈3e-6 per conv; ≈130 dB PSNR on the whole trained generator). Measured per conv on
2 cores (benchmarks/README.md): ≈2.3× faster with AVX2 only, ≈1.8× with AVX-512 (Xeon held to
AVX-512 without bf16), on the 1/4-resolution maps of 64² to 1024² images.

Which is faster is decided on the machine itself: `conv_kernel()` times one residual conv both
ways at two sizes, once per process (≈0.1 s), and takes Winograd from the size where it is ≥ 10 %
faster, unless `CYCLEGAN_CONV_KERNEL` names one (`winograd` or `onednn`; `auto` is the default).
bf16 compute always uses oneDNN (AMX / AVX512-BF16).
"""

from __future__ import annotations

import functools
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan_core.engine.kernels.winograd import cached, conv3x3, transform_weight

KERNELS = ("auto", "winograd", "onednn")


def configured_kernel() -> str:
    kernel = os.environ.get("CYCLEGAN_CONV_KERNEL", "auto").lower()
    if kernel not in KERNELS:
        raise ValueError(f"CYCLEGAN_CONV_KERNEL={kernel!r}; expected one of {', '.join(KERNELS)}")
    return kernel


def conv_kernel(device: torch.device = torch.device("cpu"), pixels: int | None = None) -> str:
    """"winograd" or "onednn" for the fp32 3×3 stride-1 convolutions of an image of `pixels`
    pixels on `device` (GPUs: always "onednn", meaning the framework's own kernels). `auto` takes
    Winograd from the size measured to pay on this machine (`calibrated_threshold`)."""
    if device.type != "cpu":
        return "onednn"
    kernel = configured_kernel()
    if kernel == "auto":
        threshold = calibrated_threshold(torch.get_num_threads())
        size = float("inf") if pixels is None else pixels  # not given: a large image
        return "winograd" if threshold < float("inf") and size >= threshold else "onednn"
    return kernel


def conv2d(x: torch.Tensor, conv: nn.Conv2d, kernel: str) -> torch.Tensor:
    """`conv` (stride 1, unpadded) applied to `x` with the chosen kernel: "winograd" takes fp32 3×3
    convs on a CPU (channels-last output, weights transformed once per module: `winograd.cached`);
    anything else goes to the framework's kernels."""
    if kernel == "winograd" and conv.kernel_size == (3, 3) and x.dtype is torch.float32 and x.device.type == "cpu":
        return conv3x3(x, cached(conv), conv.bias)
    return F.conv2d(x, conv.weight, conv.bias)


@functools.cache
def calibrated_threshold(threads: int) -> float:
    """The smallest image (in pixels) for which Winograd's residual convs are ≥ 10 % faster than
    oneDNN's here (inf: never), from `calibrate()`: each kernel's time is fixed + per-pixel, fitted
    at two sizes. Cached per thread count."""
    measured = calibrate()
    return measured["threshold"]


def calibrate(rounds: int = 4) -> dict:
    """One residual conv (256 channels, 3×3) timed with oneDNN and Winograd (best of `rounds`,
    interleaved) at 16² and 64² outputs (the 1/4-resolution maps of 64² and 256² images), each on
    the layout its path uses. {"onednn": s, "winograd": s, "speedup": at 64², "threshold": image
    pixels from which Winograd is ≥ 10 % faster (inf: never)}."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(256, 256, 3, 3, generator=generator) * 0.02
    bias = torch.zeros(256)
    transformed = transform_weight(weight)
    sizes = (16, 64)
    inputs = {n: torch.randn(1, 256, n + 2, n + 2, generator=generator) for n in sizes}
    channels_last = {n: x.contiguous(memory_format=torch.channels_last) for n, x in inputs.items()}
    candidates = {"onednn": lambda n: F.conv2d(inputs[n], weight, bias),
                  "winograd": lambda n: conv3x3(channels_last[n], transformed, bias)}
    best = {(name, n): float("inf") for name in candidates for n in sizes}
    with torch.inference_mode():
        for fn in candidates.values():
            fn(sizes[-1])  # first call: allocation
        for _ in range(rounds):
            for n in sizes:
                for name, fn in candidates.items():
                    start = time.perf_counter()
                    fn(n)
                    best[(name, n)] = min(best[(name, n)], time.perf_counter() - start)
    onednn, winograd = best[("onednn", 64)], best[("winograd", 64)]
    result = {"onednn": onednn, "winograd": winograd, "speedup": onednn / winograd, "threshold": float("inf")}
    small, large = 16 * 16, 64 * 64  # output pixels at 1/4 resolution
    slope_w = max(winograd - best[("winograd", 16)], 0.0) / (large - small)
    fixed_w = winograd - slope_w * large
    slope_o = max(onednn - best[("onednn", 16)], 0.0) / (large - small)
    fixed_o = onednn - slope_o * large
    # oneDNN(q) ≥ 1.1 Winograd(q): fixed_o + slope_o q ≥ 1.1 (fixed_w + slope_w q), from q on
    gain = slope_o - 1.1 * slope_w
    if gain > 0:
        result["threshold"] = 16 * max(0.0, (1.1 * fixed_w - fixed_o) / gain)
    return result
