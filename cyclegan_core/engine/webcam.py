"""A live view: a webcam's frames translated one by one, the statistics locked while the view is steady.

Each frame normalised with its own InstanceNorm statistics shimmers as the camera or the people in
front of it move (why CycleGAN videos flicker: `shots.py`). Here the first `LOCK_AFTER` frames of a
shot each add their statistics to a running combination (`shots.combine_statistics`); from then on
the shot's statistics are fixed and every frame runs with them (`shots.translate_with_statistics`:
on the runtime a picture of the frame's size would get, else torch).
When the view changes abruptly (a cut: `shots.is_cut` on consecutive 32² grey thumbnails) a new
shot starts and the statistics are gathered again.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import torch
from PIL import Image
from torch import nn

from cyclegan_core.engine.images import image_to_tensor, tensor_to_image, to_rgb
from cyclegan_core.engine.runtime import resolve_precision
from cyclegan_core.engine.shots import (CUT_SIZE, CUT_THRESHOLD, STATS_PIXELS, Statistics, combine_statistics,
                                        frame_statistics, is_cut, translate_with_statistics)

LOCK_AFTER = 4  # frames of a shot whose statistics are averaged before they are locked


class LiveTranslator:
    """Translates a stream of frames (PIL images) with one generator, statistics locked per shot.
    `shots` counts the shots seen, `locked` says whether the current shot's statistics are fixed, and
    `statistics` are the ones the last frame used. One caller at a time: a lock serialises calls."""

    def __init__(self, generator: nn.Module, precision: str = "auto", lock_after: int = LOCK_AFTER,
                 threshold: float = CUT_THRESHOLD, stats_pixels: int = STATS_PIXELS):
        self.generator, self.lock_after, self.threshold, self.stats_pixels = generator, lock_after, threshold, stats_pixels
        self.precision = resolve_precision(precision, next(generator.parameters()).device)
        self.shots = 0
        self.statistics: Statistics | None = None
        self.gathered: list[Statistics] = []
        self.previous: np.ndarray | None = None
        self.lock = threading.Lock()

    @property
    def locked(self) -> bool:
        return len(self.gathered) >= self.lock_after

    def translate(self, frame: Image.Image) -> Image.Image:
        """The frame translated with its shot's statistics (gathering them for the shot's first frames)."""
        with self.lock:
            image = to_rgb(frame)
            thumbnail = np.asarray(image.convert("L").resize((CUT_SIZE, CUT_SIZE), Image.Resampling.BOX))
            if self.previous is None or is_cut(self.previous, thumbnail, self.threshold):
                self.shots += 1
                self.gathered = []
            self.previous = thumbnail
            x = image_to_tensor(image)
            if not self.locked:
                self.gathered.append(frame_statistics(self.generator, x, self.precision, self.stats_pixels))
                self.statistics = combine_statistics(self.gathered)
            y = translate_with_statistics(self.generator, x, self.statistics, self.precision)
            return tensor_to_image(y)

    def reset(self) -> None:
        """Forget the current shot: the next frame starts a new one."""
        with self.lock:
            self.previous, self.gathered, self.statistics = None, [], None


def frames_per_second(translator: LiveTranslator, frame: Image.Image, count: int = 8) -> float:
    """How many frames per second `translator` keeps up with at `frame`'s size (locked statistics)."""
    for _ in range(translator.lock_after + 1):
        translator.translate(frame)
    start = time.perf_counter()
    with torch.inference_mode():
        for _ in range(count):
            translator.translate(frame)
    return count / (time.perf_counter() - start)
