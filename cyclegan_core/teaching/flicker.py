"""Why CycleGAN videos flicker, on one picture: a slow pan over it makes a few "frames"; each is
translated once with its own InstanceNorm statistics (frame by frame, as most tools do) and once with
the statistics of all the frames together (one shot, `engine.shots`). As the window moves, each
frame's means and variances change a little, and so do the colours of its translation; shared
statistics hold them still. The change between consecutive translated frames is measured where they
overlap, after undoing the known pan (motion-compensated), so only the flicker is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cyclegan_core.engine.shots import combine_statistics, frame_statistics, translate_with_statistics

FRAMES = 4
TEXT = ("**Why CycleGAN videos flicker.** The generator normalises every layer by the picture's own "
        "InstanceNorm statistics (each channel's mean and variance). Frame by frame, every frame brings its own, "
        "and as the view moves they change a little, and the colours and contrast of the translation jump with "
        "them. The frames of one shot show the same scene, so one set of statistics, from several of its frames, "
        "can serve them all: the colours then hold still.")
WINDOW = 0.6  # each frame is this fraction of the picture's width


@dataclass(frozen=True)
class FlickerView:
    """The pan's frames, their translations both ways, and the mean change between consecutive
    translated frames (motion-compensated, in the network's [-1, 1] units)."""

    frames: list[torch.Tensor]
    per_frame: list[torch.Tensor]
    per_shot: list[torch.Tensor]
    shift: int  # pixels the window moves between frames
    change_per_frame: float
    change_per_shot: float


def pan(x: torch.Tensor, frames: int = FRAMES, window: float = WINDOW) -> tuple[list[torch.Tensor], int]:
    """`frames` crops of 1×3×H×W `x`, each `window` of its width, moving left to right by equal steps;
    returns them and the step in pixels."""
    width = x.shape[-1]
    size = max(8, int(width * window) // 4 * 4)
    shift = (width - size) // max(1, frames - 1) // 4 * 4  # whole steps of the two stride-2 layers: no aliasing
    return [x[..., i * shift:i * shift + size] for i in range(frames)], shift


MARGIN = 16  # pixels left out at each frame's edges, where its padding, not the scene, shapes the result


def compensated_change(a: torch.Tensor, b: torch.Tensor, shift: int, margin: int = MARGIN) -> float:
    """Mean absolute difference of consecutive frames `a` and `b` (b's window `shift` px to the right)
    where they show the same part of the scene, away from their edges."""
    height, width = a.shape[-2:]
    m = min(margin, max(0, (width - shift) // 4), height // 4)
    rows = slice(m, height - m)
    return float((a[..., rows, shift + m:width - m] - b[..., rows, m:width - shift - m]).abs().mean())


def flicker_view(generator: nn.Module, x: torch.Tensor, precision: str = "fp32", frames: int = FRAMES) -> FlickerView:
    """The pan over `x` translated by `generator` frame by frame and as one shot (`precision`: a resolved
    one; fp32 is the reference implementation's maths)."""
    crops, shift = pan(x, frames)
    own = [frame_statistics(generator, crop, precision) for crop in crops]
    shared = combine_statistics(own)
    per_frame = [translate_with_statistics(generator, crop, stats, precision) for crop, stats in zip(crops, own)]
    per_shot = [translate_with_statistics(generator, crop, shared, precision) for crop in crops]

    def mean_change(translated: list[torch.Tensor]) -> float:
        pairs = list(zip(translated, translated[1:]))
        return sum(compensated_change(a, b, shift) for a, b in pairs) / len(pairs)
    return FlickerView(crops, per_frame, per_shot, shift, mean_change(per_frame), mean_change(per_shot))
