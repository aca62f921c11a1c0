"""Which kernel runs the generator's 3×3 stride-1 convolutions in fp32 on this CPU.

Where the CPU has no native bf16 (AMD Zen 3, Intel Xeons before Cooper Lake), translation computes
in fp32, and the residual blocks' 3×3 convolutions (≈88 % of the generator's arithmetic) decide its
speed. oneDNN runs them directly; `winograd.py` runs them as Winograd F(4×4, 3×3) transforms and
batched matrix products (Lavin & Gray, 2016) with 4× fewer multiplications (36 per 4×4 block
instead of 144), at fp32 accuracy and, per conv, markedly faster than oneDNN with AVX2 only and
with AVX-512 alike (error and speed-ups: benchmarks/README.md).

Which runs is decided by the CPU's capabilities alone, never by a timing, so every process on a
machine (the CLI, the Python API, the app, loaded or idle) computes the same pixels: Winograd where
the CPU has AVX2 (every x86 class measured, AVX2-only and AVX-512 alike, runs it faster from the
smallest size measured, a 64² image: benchmarks/README.md), oneDNN elsewhere (CPUs without AVX2,
Arm), unless `CYCLEGAN_CONV_KERNEL` names one (`winograd` or `onednn`; `auto` is the default).
bf16 compute always uses oneDNN (AMX / AVX512-BF16).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan_core.engine.kernels.winograd import cached, conv3x3

KERNELS = ("auto", "winograd", "onednn")


def configured_kernel() -> str:
    kernel = os.environ.get("CYCLEGAN_CONV_KERNEL", "auto").lower()
    if kernel not in KERNELS:
        raise ValueError(f"CYCLEGAN_CONV_KERNEL={kernel!r}; expected one of {', '.join(KERNELS)}")
    return kernel


def conv_kernel(device: torch.device = torch.device("cpu"), pixels: int | None = None) -> str:
    """"winograd" or "onednn" for the fp32 3×3 stride-1 convolutions of an image of `pixels`
    pixels (any size: Winograd pays from the smallest measured) on `device` (GPUs: always "onednn",
    meaning the framework's own kernels). `auto` follows the CPU's capabilities (`winograd_pays`)."""
    if device.type != "cpu":
        return "onednn"
    kernel = configured_kernel()
    if kernel == "auto":
        return "winograd" if winograd_pays() else "onednn"
    return kernel


def winograd_pays() -> bool:
    """Whether this CPU runs the Winograd kernel's batched fp32 products faster than oneDNN's direct
    convolution: x86 with AVX2 (MKL's vectorised GEMMs). A property of the CPU, the same in every process."""
    return bool(torch.cpu.get_capabilities().get("avx2"))


def conv2d(x: torch.Tensor, conv: nn.Conv2d, kernel: str) -> torch.Tensor:
    """`conv` (stride 1, unpadded) applied to `x` with the chosen kernel: "winograd" takes fp32 3×3
    convs on a CPU (channels-last output, weights transformed once per module: `winograd.cached`);
    anything else goes to the framework's kernels."""
    if kernel == "winograd" and conv.kernel_size == (3, 3) and x.dtype is torch.float32 and x.device.type == "cpu":
        return conv3x3(x, cached(conv), conv.bias)
    return F.conv2d(x, conv.weight, conv.bias)
