"""Translating a whole video: every frame at full resolution, statistics shared per shot, sound kept.

Two decodes of the file, so memory stays bounded whatever the clip's length:

1. **Shots** (`stats="shot"`): every frame's 32² grey thumbnail finds the cuts; each shot keeps a
   bounded, evenly spread set of its frames as small copies (`shots.ShotSampler`), and when the shot
   ends their InstanceNorm statistics are computed and combined (`shots.combine_statistics`). What
   stays is one set of statistics per shot (≈40 KB for the paper's generator).
2. **Translation**: each frame runs with its shot's statistics (`shots.translate_with_statistics`:
   the runtime a picture of the frame's size would get, through its live graph, where there is one;
   else torch), is encoded at its own timestamp, and the audio packets are copied as they come (`video.VideoWriter`).

`stats="frame"` skips the first pass and translates each frame on its own, with its own statistics,
the way frame-by-frame tools do (through `translation.translate_tensor`: the same paths and runtime
backends as a picture). That is what makes CycleGAN videos flicker; it is here to show the difference.

The output is written beside `out` under a temporary name and renamed at the end (`atomic.py`): a
failure, or a progress callback that raises to cancel, leaves nothing at `out`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from cyclegan_core.atomic import atomic_path
from cyclegan_core.engine.images import image_to_tensor, tensor_to_image
from cyclegan_core.engine.runtime import resolve_precision
from cyclegan_core.engine.shots import (CUT_SIZE, ShotSampler, Statistics, combine_statistics, frame_statistics, is_cut,
                                        runs_on, stats_size, translate_with_statistics)
from cyclegan_core.engine.translation import translate_tensor
from cyclegan_core.engine.video import VideoInfo, VideoWriter, decode_frames, frame_pixels, probe_video

STATS = ("shot", "frame")


@dataclass(frozen=True)
class VideoProgress:
    """Where a video translation stands: `frame` of `frames` done in this `stage` ("shots": the first
    pass that finds the shots and their statistics; "translating": the frames translated and encoded),
    `elapsed` seconds since the start, `seconds_left` (None until a frame has been translated), and
    the shot the frame belongs to (from 1)."""

    frame: int
    frames: int
    elapsed: float
    seconds_left: float | None
    shot: int
    stage: str = "translating"


@dataclass(frozen=True)
class VideoResult:
    """The translated video as written: its path, frame count, frame rate, size, duration (seconds),
    the number of shots, whether it has sound (and whether that had to be re-encoded rather than
    copied), the seconds it took, the statistics used and what ran the frames (`runs_on`: e.g.
    "openvino·bf16" or "torch·bf16" with shot statistics, `shots.runs_on`)."""

    path: Path
    frames: int
    fps: float
    width: int
    height: int
    seconds: float
    shots: int
    audio: bool
    elapsed: float
    audio_reencoded: bool = False
    stats: str = "shot"
    runs_on: str = ""


@dataclass(frozen=True)
class Shot:
    """A shot: its first frame's index and the statistics its frames share."""

    start: int
    statistics: Statistics


VideoProgressCallback = Callable[[VideoProgress], None]


def translate_video(generator: nn.Module, path, out, *, stats: str = "shot", precision: str = "auto",
                    progress: VideoProgressCallback | None = None, max_pixels: int | None = None,
                    max_seconds: float | None = None, fit_pixels: int | None = None) -> VideoResult:
    """Translate the video at `path` with `generator` into `out` (.mp4, .mov, .mkv: H.264; .webm: VP9),
    frame by frame at full resolution, with InstanceNorm statistics shared per shot (`stats="shot"`)
    or each frame's own (`stats="frame"`). The input is checked first (`probe_video`: a `VideoError`
    for a file that cannot be used, or is over `max_pixels` per frame or `max_seconds`). `progress`
    is called after every frame of both passes and may raise to cancel; nothing is then left at `out`.
    `precision` as for pictures; with shot statistics the frames run on the runtime a picture of their
    size would get (its live graph), else on torch (`shots.py`); `VideoResult.runs_on` says which.
    `fit_pixels`: frames larger than this are scaled down to it (aspect kept, even sides), an app's
    bound on the work one clip asks for."""
    if stats not in STATS:
        raise ValueError(f"unknown stats {stats!r}; expected one of {', '.join(STATS)}")
    path, out = Path(path), Path(out)
    start = time.perf_counter()
    info = fitted(probe_video(path, max_pixels, max_seconds), fit_pixels)
    device = next(generator.parameters()).device
    resolved = resolve_precision(precision, device)

    def report(frame: int, shot: int, stage: str, began: float) -> None:
        if progress is None:
            return
        now = time.perf_counter()
        left = (now - began) / frame * (info.frames - frame) if stage == "translating" and frame else None
        progress(VideoProgress(frame, info.frames, now - start, left, shot, stage))

    shots = find_shots(generator, path, info, resolved, report) if stats == "shot" else []
    with atomic_path(out) as temporary:
        writer = VideoWriter(temporary, path, info.width, info.height, suffix=out.suffix)
        try:
            count = translate_frames(generator, path, info, writer, shots, precision, resolved, report)
            writer.close()
        except BaseException:
            writer.abandon()
            raise
        written = probe_video(temporary)
    where = runs_on(generator, info.height, info.width, resolved) if stats == "shot" else f"as pictures ({precision})"
    return VideoResult(out, written.frames, written.fps, written.width, written.height, written.seconds, count,
                       written.audio_codec is not None, time.perf_counter() - start, writer.audio_reencoded,
                       stats, where)


def fitted(info: VideoInfo, fit_pixels: int | None) -> VideoInfo:
    """`info` with the frame size the translation makes: at most `fit_pixels`, aspect kept, even sides."""
    if not fit_pixels or info.width * info.height <= fit_pixels:
        return info
    scale = (fit_pixels / (info.width * info.height)) ** 0.5
    return replace(info, width=max(2, int(info.width * scale) // 2 * 2), height=max(2, int(info.height * scale) // 2 * 2))


def find_shots(generator: nn.Module, path: Path, info: VideoInfo, precision: str, report) -> list[Shot]:
    """The first pass: the shots (where the cuts are) and each shot's combined statistics."""
    shots: list[Shot] = []
    width, height = stats_size(info.width, info.height)
    began, previous, sampler, first = time.perf_counter(), None, ShotSampler(), 0
    for index, frame in enumerate(decode_frames(path)):
        thumbnail = frame_pixels(frame, CUT_SIZE, CUT_SIZE, gray=True)
        if previous is not None and is_cut(previous, thumbnail):
            shots.append(Shot(first, shot_statistics(generator, sampler, precision)))
            sampler, first = ShotSampler(), index
        previous = thumbnail
        if sampler.wants(index - first):
            sampler.add(index - first, frame_pixels(frame, width, height))
        else:
            sampler.skip(index - first)
        report(index + 1, len(shots) + 1, "shots", began)
    if sampler.length:
        shots.append(Shot(first, shot_statistics(generator, sampler, precision)))
    return shots


def shot_statistics(generator: nn.Module, sampler: ShotSampler, precision: str) -> Statistics:
    """The statistics of the shot's chosen frames, combined (kept on the CPU: small)."""
    frames = [frame_statistics(generator, to_tensor(pixels), precision) for pixels in sampler.chosen()]
    return [(mean.cpu(), var.cpu()) for mean, var in combine_statistics(frames)]


def translate_frames(generator: nn.Module, path: Path, info: VideoInfo, writer: VideoWriter, shots: list[Shot],
                     precision: str, resolved: str, report) -> int:
    """The second pass: every frame translated and written, the audio copied as it comes. Returns the
    number of shots (with frame statistics, counted here by the same cut detection)."""
    began, shot, previous, cuts = time.perf_counter(), 0, None, 1
    for index, frame in enumerate(decode_frames(path, on_audio=writer.write_audio)):
        same_size = frame.width == info.width and frame.height == info.height
        pixels = frame_pixels(frame) if same_size else frame_pixels(frame, info.width, info.height)
        x = to_tensor(pixels)
        if shots:
            while shot + 1 < len(shots) and shots[shot + 1].start <= index:
                shot += 1
            y = translate_with_statistics(generator, x, shots[shot].statistics, resolved)
        else:
            thumbnail = frame_pixels(frame, CUT_SIZE, CUT_SIZE, gray=True)
            cuts += previous is not None and is_cut(previous, thumbnail)
            previous = thumbnail
            y = translate_tensor(generator, x, precision)
        writer.write(np.asarray(tensor_to_image(y)), frame)
        report(index + 1, shot + 1 if shots else cuts, "translating", began)
    return len(shots) if shots else cuts


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 → 1×3×H×W in [-1, 1] (`images.image_to_tensor`)."""
    return image_to_tensor(Image.fromarray(pixels, "RGB"))
