"""Which kernel runs the generator's stride-1 convolutions in fp32 on this CPU.

Where the CPU has no native bf16 (AMD Zen 3, Intel Xeons before Cooper Lake), translation computes
in fp32, and the residual blocks' 3×3 convolutions (≈88 % of the generator's arithmetic) decide its
speed. oneDNN runs them directly; NNPACK (bundled with PyTorch's x86 builds) runs them as Winograd
transforms (Lavin & Gray, 2016) with about a quarter of the multiplications, at fp32 accuracy
(relative error ≈2e-5 on a 256-channel conv; ≈130 dB PSNR on the whole trained generator).
Measured on 2 cores (benchmarks/README.md): 2.4× faster per conv with AVX2 only, 1.2× with
AVX-512. The 7×7 convolutions (c7s1-64, c7s1-3) gain too.

Which is faster depends on the CPU, so it is decided on the machine itself: `conv_kernel()` times
one residual conv both ways, once per process (≈0.3 s), unless `CYCLEGAN_CONV_KERNEL` names one
(`nnpack` or `onednn`; `auto` is the default). bf16 compute always uses oneDNN (AMX / AVX512-BF16).
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
CALIBRATION_SHAPE = (1, 256, 66, 66)  # a residual block's conv on one streamed window (64² + 1 px halo)


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


def conv_kernel(device: torch.device = torch.device("cpu")) -> str:
    """"nnpack" or "onednn" for fp32 stride-1 convolutions on `device` (GPUs: always "onednn",
    meaning the framework's own kernels)."""
    if device.type != "cpu":
        return "onednn"
    kernel = configured_kernel()
    if kernel == "auto":
        return calibrated_kernel(torch.get_num_threads())
    if kernel == "nnpack" and not nnpack_available():
        return "onednn"
    return kernel


@functools.cache
def calibrated_kernel(threads: int) -> str:
    """Times one residual conv with oneDNN and with NNPACK (best of a few runs each, interleaved)
    and returns the faster, NNPACK only if ≥ 10 % faster. Cached per thread count."""
    return "nnpack" if calibrate()["speedup"] >= 1.1 else "onednn"


def calibrate(rounds: int = 4) -> dict:
    """{"onednn": s, "nnpack": s or None, "speedup": onednn / nnpack}: best times of one residual
    conv (256 channels, 3×3, 64² output) on this machine."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(CALIBRATION_SHAPE, generator=generator)
    weight = torch.randn(256, 256, 3, 3, generator=generator) * 0.02
    bias = torch.zeros(256)
    candidates = {"onednn": lambda: F.conv2d(x, weight, bias)}
    if nnpack_available():
        candidates["nnpack"] = lambda: winograd_conv2d(x, weight, bias)
    best = dict.fromkeys(candidates, float("inf"))
    with torch.inference_mode():
        for fn in candidates.values():
            fn()  # first call: allocation, NNPACK's transform buffers
        for _ in range(rounds):
            for name, fn in candidates.items():
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
    nnpack = best.get("nnpack")
    return {"onednn": best["onednn"], "nnpack": nnpack, "speedup": best["onednn"] / nnpack if nnpack else 0.0}
