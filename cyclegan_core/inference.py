"""Running a generator on a whole image: tensors in [-1, 1], padding, precision.

Preprocessing follows the reference implementation's test mode (ToTensor + Normalize(0.5, 0.5)),
but at the image's own resolution: the reference squashes every photo to 256², we pad instead.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` → bf16 autocast where the hardware runs bf16 natively (≈2× faster on such CPUs,
    ≈55 dB PSNR vs fp32 on a trained generator), else fp32. `fp32` is reference parity."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16. Without them oneDNN emulates bf16 and is ~3× slower than fp32."""
    capabilities = torch.cpu.get_capabilities()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def usable_cpus(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may really use: its affinity, further limited by a cgroup CPU quota
    (containers such as Hugging Face Spaces often see the host's cores but may use only two)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def configure_threads() -> int:
    """Use no more intra-op threads than usable CPUs (more only contend); returns the count."""
    threads = min(torch.get_num_threads(), usable_cpus())
    torch.set_num_threads(threads)
    return threads


def autocast(precision: str, device: torch.device):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image → 1×3×H×W float tensor in [-1, 1] (x / 127.5 − 1, as Normalize(0.5, 0.5))."""
    array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    return array.permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1.0)


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """1×3×H×W tensor in [-1, 1] → RGB PIL image, rounding (y + 1) / 2 · 255 to the nearest level."""
    array = tensor.detach().float().squeeze(0).add(1.0).mul(127.5).round().clamp(0, 255)
    return Image.fromarray(array.to(torch.uint8).permute(1, 2, 0).cpu().numpy(), "RGB")


def pad_to_multiple(x: torch.Tensor, multiple: int = 4, minimum: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad H and W (bottom/right) up to a multiple of `multiple` and at least `minimum`.

    Reflection padding keeps the border's texture and statistics; where a side is too thin to
    reflect (1–2 px strips) the edge is replicated instead. Returns the padded tensor and (H, W).
    """
    height, width = x.shape[-2:]
    pad_h = max(-(-height // multiple) * multiple, minimum) - height
    pad_w = max(-(-width // multiple) * multiple, minimum) - width
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, (height, width)


DEFAULT_STREAM_PIXELS = 4096 * 4096  # exact streamed translation up to here (≈1.1 GB of bf16 buffers)


def stream_pixels() -> int:
    """Largest image translated exactly (`streaming.py`); larger ones are tiled with statistics
    from a copy downscaled to this size (`tiling.py`). `CYCLEGAN_STREAM_PIXELS` overrides."""
    value = os.environ.get("CYCLEGAN_STREAM_PIXELS")
    return int(value) if value else DEFAULT_STREAM_PIXELS


def run_generator(generator: torch.nn.Module, x: torch.Tensor, precision: str) -> torch.Tensor:
    """Apply a generator to a whole 1×3×H×W tensor of any size in one pass; same size out, float32."""
    device = next(generator.parameters()).device
    padded, (height, width) = pad_to_multiple(x.to(device))
    with torch.inference_mode(), autocast(precision, device):
        y = generator(padded)
    return y[..., :height, :width].float()
