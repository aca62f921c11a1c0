"""Which kernel runs the generator's stride-1 convolutions in fp32 on this CPU.

Where the CPU has no native bf16 (AMD Zen 3, Intel Xeons before Cooper Lake), translation computes
in fp32, and the residual blocks' 3×3 convolutions (≈88 % of the generator's arithmetic) decide its
speed. oneDNN runs them directly; NNPACK (bundled with PyTorch's x86 builds) runs them as Winograd
transforms (Lavin & Gray, 2016) with about a quarter of the multiplications, at fp32 accuracy
(relative error ≈2e-5 on a 256-channel conv; ≈130 dB PSNR on the whole trained generator).
Measured on 2 cores (benchmarks/README.md): 2.4× faster per conv with AVX2 only, ≈1.15× with
AVX-512. The 7×7 convolutions (c7s1-64, c7s1-3) run through it too.

Which is faster depends on the CPU and the image size (NNPACK transforms the weights at every call:
a fixed cost, ≈2.5× slower than oneDNN on a 64² image, faster from ≈160² on with AVX2 only), so it
is decided on the machine itself: `conv_kernel()` times one residual conv both ways at two sizes,
once per process (≈0.4 s), and takes NNPACK from the size where it is ≥ 10 % faster, unless
`CYCLEGAN_CONV_KERNEL` names one (`nnpack` or `onednn`; `auto` is the default). bf16 compute always
uses oneDNN (AMX / AVX512-BF16).
"""

from __future__ import annotations

import functools
import os
import time

import torch
import torch.nn.functional as F

KERNELS = ("auto", "nnpack", "onednn")
# NNPACK keeps a workspace as large as the largest convolution it ran, for the life of the process
# (≈0.7 GB after a 1024² image in one call); larger inputs are convolved in bands of rows of about
# this many output pixels, the same result, with the workspace of a 128² window.
BAND_PIXELS = 128 * 128


@functools.cache
def nnpack_available() -> bool:
    """NNPACK is compiled in and this CPU runs it (AVX2). Asking also initialises it, which must
    happen before its first convolution (`winograd_conv2d` asks)."""
    try:
        return bool(torch.backends.nnpack.is_available())
    except (AttributeError, RuntimeError):
        return False


def winograd_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A stride-1, unpadded fp32 convolution through NNPACK (NCHW, batch 1; any kernel size)."""
    if not nnpack_available():
        raise RuntimeError("NNPACK is not available on this CPU (it needs x86 with AVX2); use kernel 'onednn'")
    if bias is None:
        bias = weight.new_zeros(weight.shape[0])
    x, weight = x.contiguous(), weight.contiguous()
    reach = weight.shape[-2] - 1  # input rows beyond a band's output rows
    rows = max(1, BAND_PIXELS // (x.shape[-1] - weight.shape[-1] + 1))  # output rows per band
    if x.shape[-2] - reach <= rows:
        return torch._nnpack_spatial_convolution(x, weight, bias, [0, 0])
    bands = [torch._nnpack_spatial_convolution(x[..., top:top + rows + reach, :], weight, bias, [0, 0])
             for top in range(0, x.shape[-2] - reach, rows)]
    return torch.cat(bands, dim=-2)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, kernel: str) -> torch.Tensor:
    """A stride-1 unpadded convolution with the chosen kernel ("nnpack" for fp32 only)."""
    if kernel == "nnpack" and x.dtype is torch.float32 and x.device.type == "cpu":
        return winograd_conv2d(x, weight, bias)
    return F.conv2d(x, weight, bias)


def configured_kernel() -> str:
    kernel = os.environ.get("CYCLEGAN_CONV_KERNEL", "auto").lower()
    if kernel not in KERNELS:
        raise ValueError(f"CYCLEGAN_CONV_KERNEL={kernel!r}; expected one of {', '.join(KERNELS)}")
    return kernel


def conv_kernel(device: torch.device = torch.device("cpu"), pixels: int | None = None) -> str:
    """"nnpack" or "onednn" for the fp32 stride-1 convolutions of an image of `pixels` pixels on
    `device` (GPUs: always "onednn", meaning the framework's own kernels). NNPACK transforms the
    weights at every call, a fixed cost that small images do not repay: `auto` takes it from the
    size measured to pay on this machine (`calibrated_threshold`)."""
    if device.type != "cpu":
        return "onednn"
    kernel = configured_kernel()
    if kernel == "auto":
        threshold = calibrated_threshold(torch.get_num_threads())
        size = float("inf") if pixels is None else pixels  # not given: a large image
        return "nnpack" if threshold < float("inf") and size >= threshold else "onednn"
    if kernel == "nnpack" and not nnpack_available():
        return "onednn"
    return kernel


@functools.cache
def calibrated_threshold(threads: int) -> float:
    """The smallest image (in pixels) for which NNPACK's residual convs are ≥ 10 % faster than
    oneDNN's here (inf: never), from `calibrate()`: each kernel's time is fixed + per-pixel, fitted
    at two sizes. Cached per thread count."""
    measured = calibrate()
    return measured["threshold"]


def calibrate(rounds: int = 4) -> dict:
    """One residual conv (256 channels, 3×3) timed with oneDNN and NNPACK (best of `rounds`,
    interleaved) at 16² and 64² outputs (the 1/4-resolution maps of 64² and 256² images).
    {"onednn": s, "nnpack": s or None, "speedup": at 64², "threshold": image pixels from which
    NNPACK is ≥ 10 % faster (inf: never)}."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(256, 256, 3, 3, generator=generator) * 0.02
    bias = torch.zeros(256)
    sizes = (16, 64)
    inputs = {n: torch.randn(1, 256, n + 2, n + 2, generator=generator) for n in sizes}
    candidates = {"onednn": lambda x: F.conv2d(x, weight, bias)}
    if nnpack_available():
        candidates["nnpack"] = lambda x: winograd_conv2d(x, weight, bias)
    best = {(name, n): float("inf") for name in candidates for n in sizes}
    with torch.inference_mode():
        for fn in candidates.values():
            fn(inputs[sizes[-1]])  # first call: allocation, NNPACK's transform buffers
        for _ in range(rounds):
            for n in sizes:
                for name, fn in candidates.items():
                    start = time.perf_counter()
                    fn(inputs[n])
                    best[(name, n)] = min(best[(name, n)], time.perf_counter() - start)
    onednn, nnpack = best[("onednn", 64)], best.get(("nnpack", 64))
    result = {"onednn": onednn, "nnpack": nnpack, "speedup": onednn / nnpack if nnpack else 0.0,
              "threshold": float("inf")}
    if nnpack:
        small, large = 16 * 16, 64 * 64  # output pixels at 1/4 resolution
        slope_n = (nnpack - best[("nnpack", 16)]) / (large - small)
        fixed_n = nnpack - slope_n * large
        slope_o = max(onednn - best[("onednn", 16)], 0.0) / (large - small)
        fixed_o = onednn - slope_o * large
        # oneDNN(q) ≥ 1.1 NNPACK(q): fixed_o + slope_o q ≥ 1.1 (fixed_n + slope_n q)
        gain = slope_o - 1.1 * slope_n
        if gain > 0:
            # ×2: the generator's other NNPACK calls (c7s1-64, c7s1-3) add fixed costs this one conv does
            # not show (AVX2 only: the fit says 111², the whole generator broke even between 128² and 192²).
            result["threshold"] = 2 * 16 * max(0.0, (1.1 * fixed_n - fixed_o) / gain)
    return result
