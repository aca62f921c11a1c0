"""Shots, and the InstanceNorm statistics the frames of a shot share.

Why CycleGAN videos flicker: the paper's generator normalises every activation with its own
instance's statistics (InstanceNorm, Sec. 4). Frame by frame, each frame brings its own mean and
variance per channel, and as the content moves they change a little from one frame to the next, so
the colours and contrast of the translation jump. Within a shot the scene is the same, so one set
of statistics serves all its frames: the statistics are computed from up to `SAMPLES` frames spread
over the shot, each at most `STATS_PIXELS` (a thumbnail, as `tiling.thumbnail_statistics` does for
tiles: URST, AAAI 2022), and combined as one population: the mean of the means, and the variance
as the mean of (var + mean²) less the combined mean² (`combine_statistics`).

A new shot starts where the content changes abruptly: the mean absolute difference of consecutive
frames' 32×32 grey thumbnails above `CUT_THRESHOLD` (a cut). A pan or a slow change stays one shot.

Each sampled frame's statistics come from one whole torch pass that records every norm's input
moments as it goes (`frame_statistics`; streamed exactly where a whole pass would not fit).
`translate_with_statistics` then runs a frame with fixed statistics, on what a picture of its size
would run on (`translation.runtime_pass`): where pictures go to a runtime (OpenVINO's bf16 pass on a
CPU with native bf16, or a forced `CYCLEGAN_BACKEND`) and the frame fits a whole pass, that runtime
runs the generator's live graph (`onnx_graph`, `live=True`: each norm takes the statistics given,
`backends.run_shared`), in the runtime's precision. Elsewhere torch runs it layer by layer in the
resolved precision, each norm an affine map made from the shot's statistics (nothing registered on
the generator, so a translation of a picture on another thread is untouched): one whole pass (oneDNN;
the Winograd kernel computes each image's own statistics inside), or tiles sharing the statistics
beyond the whole-pass budget (`tiling.translate_tiled`). `runs_on` names the choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cyclegan_core.engine import backends
from cyclegan_core.engine.images import pad_to_multiple
from cyclegan_core.engine.runtime import autocast
from cyclegan_core.engine.tiling import thumbnail_statistics, translate_tiled
from cyclegan_core.engine.translation import (device_free_bytes, generator_width, runtime_pass, whole_pass_budget,
                                              whole_pass_fits, within_index_cap)
from cyclegan_core.nn.networks import ResnetBlock

CUT_SIZE = 32  # cut detection compares CUT_SIZE² grey thumbnails
CUT_THRESHOLD = 0.12  # mean absolute difference (0–1) of consecutive thumbnails that makes a cut
SAMPLES = 8  # frames whose statistics make a shot's statistics, at most …
FRAMES_PER_SAMPLE = 4  # … and at most one per this many frames of the shot
STATS_PIXELS = 512 * 512  # each sampled frame's statistics come from a copy of at most this many pixels

Statistics = list  # every InstanceNorm's (mean, var), 1×C×1×1 float32 each, in module order


def is_cut(previous: np.ndarray, current: np.ndarray, threshold: float = CUT_THRESHOLD) -> bool:
    """Whether two consecutive frames' grey thumbnails (uint8, CUT_SIZE²) differ like a cut."""
    return cut_difference(previous, current) > threshold


def cut_difference(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean absolute difference of two grey uint8 thumbnails, 0 (same) to 1."""
    return float(np.abs(previous.astype(np.int16) - current.astype(np.int16)).mean() / 255)


def stats_size(width: int, height: int, max_pixels: int = STATS_PIXELS) -> tuple[int, int]:
    """(width, height) of a frame's statistics copy: the frame itself up to `max_pixels`, else scaled
    down, aspect kept."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    return max(8, round(width * scale)), max(8, round(height * scale))


class ShotSampler:
    """Keeps an evenly spread, bounded subset of a shot's frames while the shot streams past (its
    length is known only at its end): every `step`-th frame, the step doubling whenever more than
    2 × SAMPLES are kept, so memory stays bounded however long the shot."""

    def __init__(self, samples: int = SAMPLES):
        self.samples, self.step, self.length = samples, 1, 0
        self.kept: list = []

    def wants(self, index: int) -> bool:
        """Whether frame `index` of the shot (from 0) is to be kept: ask before making its copy."""
        return index % self.step == 0

    def add(self, index: int, item) -> None:
        self.length = index + 1
        if not self.wants(index):
            return
        self.kept.append(item)
        if len(self.kept) > 2 * self.samples:
            self.kept, self.step = self.kept[::2], self.step * 2

    def skip(self, index: int) -> None:
        """A frame not kept (still counted in the shot's length)."""
        self.length = index + 1

    def chosen(self) -> list:
        """Up to SAMPLES kept frames, evenly spread, at most one per FRAMES_PER_SAMPLE of the shot."""
        count = min(self.samples, len(self.kept), max(1, math.ceil(self.length / FRAMES_PER_SAMPLE)))
        if count == 1:
            return [self.kept[len(self.kept) // 2]]
        return [self.kept[round(i * (len(self.kept) - 1) / (count - 1))] for i in range(count)]


@torch.inference_mode()
def frame_statistics(generator: nn.Module, x: torch.Tensor, precision: str,
                     max_pixels: int = STATS_PIXELS) -> Statistics:
    """One frame's statistics for every norm, from a copy of at most `max_pixels` (`precision`: a
    resolved one): gathered by one whole torch pass where it fits (each norm's input moments in
    float32, before it normalises with them: the generator's own pass), else streamed exactly
    (`tiling.thumbnail_statistics`; fp16 on a GPU streams in fp32, as tiling does)."""
    device = next(generator.parameters()).device
    height, width = x.shape[-2:]
    if height * width > max_pixels:
        size = stats_size(width, height, max_pixels)[::-1]
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        height, width = size
    if not whole_pass_possible(generator, height, width, precision, device):
        return thumbnail_statistics(generator, x, max_pixels, "fp32" if precision == "fp16" else precision)
    gathered: Statistics = []

    def gather(norm: nn.InstanceNorm2d, activation: torch.Tensor) -> torch.Tensor:
        values = activation.float()
        mean, var = values.mean(dim=(2, 3), keepdim=True), values.var(dim=(2, 3), unbiased=False, keepdim=True)
        gathered.append((mean, var))
        scale, shift = norm_affine(norm, mean, var)
        return activation.mul_(scale.to(activation.dtype)).add_(shift.to(activation.dtype))

    padded, _ = pad_to_multiple(x.to(device))
    with autocast(precision, device):
        run_layers(list(generator.model), padded, gather)
    return gathered


def combine_statistics(frames: list[Statistics]) -> Statistics:
    """Several frames' statistics as those of all their pixels together (each frame weighs the same):
    mean = mean of the means; var = mean of (var + mean²) − mean², in float64."""
    combined = []
    for per_norm in zip(*frames):
        means = torch.stack([m.double() for m, _ in per_norm])
        variances = torch.stack([v.double() for _, v in per_norm])
        mean = means.mean(dim=0)
        var = (variances + means.square()).mean(dim=0) - mean.square()
        combined.append((mean.float(), var.clamp_min(0).float()))
    return combined


@torch.inference_mode()
def translate_with_statistics(generator: nn.Module, x: torch.Tensor, statistics: Statistics,
                              precision: str) -> torch.Tensor:
    """1×3×H×W in [-1, 1] → same size, float32 on `x`'s device: the generator with every InstanceNorm
    normalising by `statistics` instead of the frame's own (`precision`: a resolved one). A runtime's
    live graph where a picture of this size would go to that runtime, else torch: one whole pass where
    it fits in memory, else tiles sharing the statistics (the module docstring; `runs_on`)."""
    device = next(generator.parameters()).device
    height, width = x.shape[-2:]
    runtime = runtime_pass(height * width, generator_width(generator), precision, device)
    if runtime is not None:
        return backends.run_shared(runtime[0], generator, x, statistics, runtime[1]).to(x.device)
    if not whole_pass_possible(generator, height, width, precision, device):
        compute = "fp32" if precision == "fp16" else precision
        return translate_tiled(generator, x, compute, statistics=statistics).to(x.device)
    affines = iter([norm_affine(norm, mean.to(device), var.to(device))
                    for norm, (mean, var) in zip(norms_of(generator), statistics, strict=True)])

    def fixed(norm: nn.InstanceNorm2d, activation: torch.Tensor) -> torch.Tensor:
        scale, shift = next(affines)
        return activation.mul_(scale.to(activation.dtype)).add_(shift.to(activation.dtype))

    padded, _ = pad_to_multiple(x.to(device))
    with autocast(precision, device):
        y = run_layers(list(generator.model), padded, fixed)
    return y[..., :height, :width].float().to(x.device)


def runs_on(generator: nn.Module, height: int, width: int, precision: str) -> str:
    """What `translate_with_statistics` runs a height×width frame on in the resolved `precision`:
    "openvino·bf16" (a runtime's live graph), "torch·bf16", or "torch·bf16·tiled"."""
    device = next(generator.parameters()).device
    runtime = runtime_pass(height * width, generator_width(generator), precision, device)
    if runtime is not None:
        return "·".join(runtime)
    if whole_pass_possible(generator, height, width, precision, device):
        return f"torch·{precision}"
    return f"torch·{'fp32' if precision == 'fp16' else precision}·tiled"


def whole_pass_possible(generator: nn.Module, height: int, width: int, precision: str,
                        device: torch.device) -> bool:
    ngf = generator_width(generator)
    if device.type == "cuda":
        return (whole_pass_fits(height * width, ngf, precision, device_free_bytes(device))
                and within_index_cap(height, width, ngf))
    return whole_pass_fits(height * width, ngf, precision, whole_pass_budget())


def norms_of(generator: nn.Module) -> list[nn.InstanceNorm2d]:
    return [m for m in generator.modules() if isinstance(m, nn.InstanceNorm2d)]


def norm_affine(norm: nn.InstanceNorm2d, mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """InstanceNorm with fixed statistics as y = x·scale + shift (the norm's own affine folded in)."""
    scale = torch.rsqrt(var.float() + norm.eps)
    shift = -mean.float() * scale
    if norm.affine:
        weight, bias = (p.detach().float().view(1, -1, 1, 1).to(scale.device) for p in (norm.weight, norm.bias))
        scale, shift = scale * weight, shift * weight + bias
    return scale, shift


def run_layers(layers: list[nn.Module], x: torch.Tensor,
               normalise: Callable[[nn.InstanceNorm2d, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The generator's layers in order, each InstanceNorm replaced by `normalise(norm, activation)`
    (in place, in the activation's dtype), each residual block as x + F(x)."""
    for layer in layers:
        if isinstance(layer, nn.InstanceNorm2d):
            x = normalise(layer, x)
        elif isinstance(layer, ResnetBlock):
            x = run_layers(list(layer.conv_block), x, normalise).add_(x)
        else:
            x = layer(x)
    return x
