"""A CycleGAN model: both generators and their config; translate and cycle whole images.

`G_AB` is the paper's G: A → B and `G_BA` its F: B → A. A one-way model (`config.one_way`: released
with G only, like the official painting styles) has no `G_BA`: asking it for B → A or for a cycle is
a clear `OneWayModelError`, never a made-up reverse. The discriminators D_A (D_X) and D_B (D_Y)
only exist during training and live in the training state, not in the model folder.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import NamedTuple

import torch
from PIL import Image
from torch import nn

from cyclegan_core.engine.compiled import WindowCompiler
from cyclegan_core.engine.images import ImageInput, image_to_tensor, load_image, tensor_to_image
from cyclegan_core.engine.streaming import eager_runner
from cyclegan_core.engine.translation import Progress, translate_tensor, warm_up
from cyclegan_core.engine.video_translation import VideoProgressCallback, VideoResult, translate_video
from cyclegan_core.engine.webcam import LiveTranslator
from cyclegan_core.errors import OneWayModelError
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.nn.networks import ResnetGenerator, init_weights

DIRECTIONS = ("AtoB", "BtoA")
log = logging.getLogger(__name__)


class CycleResult(NamedTuple):
    """x → G(x) → F(G(x)): the translation and its reconstruction (Eq. 2's forward cycle)."""

    translated: Image.Image
    reconstructed: Image.Image


class CycleGAN(nn.Module):
    """Both generators of a CycleGAN. Build with `CycleGAN(config)` or load with `cyclegan_core.load`."""

    def __init__(self, config: ModelConfig, initialise: bool = True):
        super().__init__()
        self.config = config
        self.G_AB = ResnetGenerator(config.ngf, config.n_blocks, config.norm)
        self.G_BA = None if config.one_way else ResnetGenerator(config.ngf, config.n_blocks, config.norm)
        if initialise:
            for generator in (self.G_AB, self.G_BA):
                if generator is not None:
                    init_weights(generator)
        self.compiler: WindowCompiler | None = None  # set where compiling pays (`compiled.should_compile`)
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def one_way(self) -> bool:
        return self.config.one_way

    def generator(self, direction: str) -> ResnetGenerator:
        if direction == "AtoB":
            return self.G_AB
        if direction == "BtoA":
            if self.G_BA is None:
                raise OneWayModelError(f"this model is one-way: it translates {self.config.domain_a} → "
                                       f"{self.config.domain_b} only (it was released without a reverse "
                                       f"generator, so there is no {self.config.domain_b} → {self.config.domain_a} "
                                       f"and no cycle)")
            return self.G_BA
        raise ValueError(f"unknown direction {direction!r}; expected 'AtoB' or 'BtoA'")

    def describe(self, direction: str) -> str:
        """'horse → zebra' for AtoB on a horse2zebra model."""
        self.generator(direction)  # validates the direction
        src, dst = (self.config.domain_a, self.config.domain_b)[:: 1 if direction == "AtoB" else -1]
        return f"{src} → {dst}"

    def warm_up(self, precision: str = "auto") -> threading.Thread:
        """Prepare each direction's translation in the background (a runtime backend's compiled
        model: `translation.warm_up`), so the first request does not wait for it; a request that
        comes first waits for the build under way, never builds twice. Returns the thread (join it
        to wait); a failure is logged, and the request then meets it itself. The thread is not a
        daemon: a process that ends meanwhile waits for it (≈1 s), since a runtime killed mid-build
        aborts the whole process ("terminate called…", exit 134) instead of exiting."""
        def work():
            for direction in DIRECTIONS[: 1 if self.one_way else 2]:
                try:
                    warm_up(self.generator(direction), precision)
                except Exception:  # noqa: BLE001 — a background nicety: the request reports it
                    log.exception("warming up %s failed", self.describe(direction))
        thread = threading.Thread(target=work, name="cyclegan-warm-up", daemon=False)
        thread.start()
        return thread

    def translate_tensor(self, x: torch.Tensor, direction: str, precision: str = "auto",
                         progress: Progress | None = None) -> torch.Tensor:
        """1×3×H×W in [-1, 1] → same shape, any H and W, equal to the whole-image pass
        (`translation.translate_tensor`: streamed, or tiled above the streaming budget).
        `precision="fp32"` is the reference implementation's maths; `auto` is bf16 where the
        hardware has it. Uses `self.compiler`'s compiled window functions where they are ready.
        `progress(fraction)` is called as the work advances and may raise to stop it."""
        runner = self.compiler.runner() if self.compiler is not None else eager_runner
        return translate_tensor(self.generator(direction), x, precision, runner, progress)

    def translate(self, image: ImageInput, direction: str, precision: str = "auto",
                  max_pixels: int | None = None, progress: Progress | None = None) -> Image.Image:
        """Translate a whole image at its own resolution (aspect kept, EXIF orientation applied).
        `progress(fraction)`, if given, is called as the work advances (0 → 1)."""
        x = image_to_tensor(load_image(image, max_pixels))
        return tensor_to_image(self.translate_tensor(x, direction, precision, progress))

    def cycle(self, image: ImageInput, direction: str, precision: str = "auto",
              max_pixels: int | None = None, progress: Progress | None = None) -> CycleResult:
        """Translate and translate back: (G(x), F(G(x))) for AtoB, (F(y), G(F(y))) for BtoA.
        `progress` as in `translate` (each half of the work is one half of the fraction)."""
        back = "BtoA" if direction == "AtoB" else "AtoB"
        self.generator(back)  # a one-way model refuses before any work
        x = image_to_tensor(load_image(image, max_pixels))
        halves = (None, None) if progress is None else (lambda f: progress(f / 2), lambda f: progress(0.5 + f / 2))
        y = self.translate_tensor(x, direction, precision, halves[0])
        return CycleResult(tensor_to_image(y), tensor_to_image(self.translate_tensor(y, back, precision, halves[1])))

    def translate_video(self, path: str | os.PathLike, direction: str, out: str | os.PathLike, *, stats: str = "shot",
                        precision: str = "auto", progress: VideoProgressCallback | None = None,
                        max_pixels: int | None = None, max_seconds: float | None = None,
                        fit_pixels: int | None = None) -> VideoResult:
        """Translate a video file into `out` (.mp4/.mov/.mkv: H.264, .webm: VP9) at its frame rate,
        size and length, its sound copied: every frame at full resolution, InstanceNorm statistics
        shared by the frames of a shot (`stats="shot"`, no flicker) or each frame's own (`"frame"`).
        `progress(VideoProgress)` after every frame, may raise to cancel (nothing is left at `out`).
        `fit_pixels`: larger frames are scaled down to this many pixels (an app's bound).
        Unusable inputs are a `VideoError` (`video_translation.translate_video`)."""
        return translate_video(self.generator(direction), path, out, stats=stats, precision=precision,
                               progress=progress, max_pixels=max_pixels, max_seconds=max_seconds,
                               fit_pixels=fit_pixels)

    def live_translator(self, direction: str, precision: str = "auto") -> LiveTranslator:
        """A translator for a live stream of frames (a webcam): `.translate(frame) -> image`, the
        statistics locked while the view is steady, a new shot when it changes abruptly (`webcam.py`)."""
        return LiveTranslator(self.generator(direction), precision)
