"""The information a cycle hides in G(x) (Chu, Zhmoginov & Sandler, "CycleGAN, a master of
steganography", NIPS 2017 workshop).

Eq. 2 asks F(G(x)) ≈ x, but G's output must also look like domain B, which often lacks the detail
x had (a winter scene has no leaves). The generators meet both demands by *hiding* x's detail in
faint, high-frequency patterns of G(x) that F then reads back. Two ways to see it:

    hidden = hidden_signal(G(x))                       # G(x) minus a smoothed G(x): the faint patterns
    curve = reconstruction_curve(x, G, F, "noise")     # perturb G(x) a little before F: how F(G(x)) degrades

A perturbation far below what the eye notices in G(x) (high PSNR against G(x)) ruins the
reconstruction: the round trip was carried by a signal nobody can see.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from cyclegan_core.engine.images import image_to_tensor, tensor_to_image

Translator = Callable[[torch.Tensor], torch.Tensor]
KINDS = ("noise", "jpeg")
# Noise: standard deviation in levels of 255. JPEG: quality (lower = stronger compression).
AMOUNTS = {"noise": (0, 1, 2, 4, 8, 16, 32), "jpeg": (100, 95, 85, 70, 50, 30, 10)}
UNITS = {"noise": "noise σ (levels of 255)", "jpeg": "JPEG quality"}


def smoothed(y: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """A Gaussian-blurred copy: what is left once the fine, high-frequency detail is removed."""
    from torchvision.transforms.functional import gaussian_blur  # imported here: torchvision loads torch._dynamo (seconds)

    kernel = 2 * int(3 * sigma) + 1
    return gaussian_blur(y, [kernel, kernel], [sigma, sigma])


def hidden_signal(y: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """y − smoothed(y): the high-frequency part of a translation, where a cycle hides its input."""
    return y - smoothed(y, sigma)


def amplified(signal: torch.Tensor, gain: float = 10.0) -> Image.Image:
    """A small signed signal made visible: mid-grey is 0, `gain` times brighter or darker."""
    return tensor_to_image((signal * gain).clamp(-1, 1))


def degrade(y: torch.Tensor, kind: str, amount: float, seed: int = 0) -> torch.Tensor:
    """y with Gaussian noise (σ = `amount` levels of 255; the same noise pattern for every amount,
    so a stronger amount is only a larger copy of a weaker one) or JPEG-compressed at quality
    `amount` (100: almost lossless)."""
    if kind == "noise":
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(y.shape, generator=generator, dtype=torch.float32)
        return (y.float() + noise * (2.0 * amount / 255.0)).clamp(-1, 1)
    if kind == "jpeg":
        buffer = io.BytesIO()
        tensor_to_image(y).save(buffer, format="JPEG", quality=int(round(amount)))
        buffer.seek(0)
        return image_to_tensor(Image.open(buffer).convert("RGB"))
    raise ValueError(f"unknown degradation {kind!r}; expected one of {', '.join(KINDS)}")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two [-1, 1] images on the 0–255 scale (inf if equal)."""
    mse = float(((a.float() - b.float()) * 127.5).pow(2).mean())
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0 ** 2 / mse))


@dataclass(frozen=True)
class CurvePoint:
    amount: float
    translation_psnr: float  # perturbed G(x) against G(x): how visible the perturbation is (dB)
    translation_change: float  # mean |perturbed G(x) − G(x)| ([-1, 1] units)
    reconstruction_change: float  # mean |F(perturbed G(x)) − F(G(x))|: how much the round trip's result moved
    reconstruction_error: float  # mean |F(perturbed G(x)) − x|, Eq. 2's L1 term for this image
    reconstruction_psnr: float  # F(perturbed G(x)) against x (dB)


@torch.no_grad()
def reconstruction_curve(x: torch.Tensor, G: Translator, F: Translator, kind: str,
                         amounts: Sequence[float] | None = None, seed: int = 0,
                         translated: torch.Tensor | None = None) -> list[CurvePoint]:
    """For each amount: perturb G(x), run F on it, compare with F(G(x)) and with x. One F pass per amount."""
    amounts = AMOUNTS[kind] if amounts is None else amounts
    fake = G(x) if translated is None else translated
    clean = F(fake).float()
    points = []
    for amount in amounts:
        perturbed = degrade(fake, kind, amount, seed)
        rec = F(perturbed).float()
        points.append(CurvePoint(float(amount), psnr(perturbed, fake), float((perturbed - fake).abs().mean()),
                                 float((rec - clean).abs().mean()),
                                 float((rec - x.float()).abs().mean()), psnr(rec, x)))
    return points


INVISIBLE_DB = 35.0  # a change to a picture above this PSNR is not seen by the eye


def describe_curve(points: Sequence[CurvePoint], kind: str) -> str:
    """Plain words for a curve: the strongest perturbation the eye cannot see in G(x), how far it
    moved F(G(x)) compared with G(x), and what that says about hidden information."""
    unseen = [p for p in points if p.translation_change > 0 and p.translation_psnr >= INVISIBLE_DB]
    point = unseen[-1] if unseen else next((p for p in points if p.translation_change > 0), points[-1])
    ratio = point.reconstruction_change / max(point.translation_change, 1e-12)
    seen = "invisible" if point.translation_psnr >= INVISIBLE_DB else "visible"
    head = (f"With {UNITS[kind]} {point.amount:g}, G(x) changes by {point.translation_change:.3f} on average "
            f"({point.translation_psnr:.1f} dB: {seen}), and F(G(x)) moves by {point.reconstruction_change:.3f}, "
            f"{ratio:.1f}× as much.")
    if ratio >= 1.0:
        return (f"{head} F amplifies a change nobody can see: the round trip rides on faint detail that G hid in its "
                f"output (Chu et al. 2017, *CycleGAN, a master of steganography*).")
    return (f"{head} F damps it: this model hides little of its input in faint detail. Fully trained CycleGANs often "
            f"do (Chu et al. 2017, *CycleGAN, a master of steganography*): try a larger model, e.g. a zoo one.")
