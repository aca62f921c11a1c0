"""A CycleGAN model: both generators and their config; translate and cycle whole images.

`G_AB` is the paper's G: A → B and `G_BA` its F: B → A. The discriminators D_A (D_X) and D_B (D_Y)
only exist during training and live in the training state, not in the model folder.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from PIL import Image
from torch import nn

from .config import ModelConfig
from .fast import WindowCompiler
from .images import ImageInput, load_image
from .inference import image_to_tensor, resolve_precision, stream_pixels, tensor_to_image
from .networks import ResnetGenerator, init_weights
from .streaming import eager_runner, storage_for, translate_streamed
from .tiling import translate_tiled

DIRECTIONS = ("AtoB", "BtoA")


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
        self.G_BA = ResnetGenerator(config.ngf, config.n_blocks, config.norm)
        if initialise:
            init_weights(self.G_AB)
            init_weights(self.G_BA)
        self.compiler: WindowCompiler | None = None  # set where compiling pays (`fast.should_compile`)
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def generator(self, direction: str) -> ResnetGenerator:
        if direction == "AtoB":
            return self.G_AB
        if direction == "BtoA":
            return self.G_BA
        raise ValueError(f"unknown direction {direction!r}; expected 'AtoB' or 'BtoA'")

    def describe(self, direction: str) -> str:
        """'horse → zebra' for AtoB on a horse2zebra model."""
        self.generator(direction)  # validates the direction
        src, dst = (self.config.domain_a, self.config.domain_b)[:: 1 if direction == "AtoB" else -1]
        return f"{src} → {dst}"

    def translate_tensor(self, x: torch.Tensor, direction: str, precision: str = "auto") -> torch.Tensor:
        """1×3×H×W in [-1, 1] → same shape, any H and W, equal to the whole-image pass.

        Streamed window by window with exact whole-image InstanceNorm statistics up to
        `stream_pixels()` (16.8 MP by default, `CYCLEGAN_STREAM_PIXELS`; half that in fp32), in
        seam-free tiles above. `precision="fp32"` is fp32 end to end (reference parity, ≈1e-6);
        `auto` is bf16 where the hardware has it (≈60 dB PSNR vs fp32 on a trained generator),
        else fp32 with fp16 storage between passes (≈85 dB). Uses `self.compiler`'s compiled
        window functions where they are ready (never waits for them).
        """
        generator = self.generator(direction)
        resolved = resolve_precision(precision, self.device)
        storage = storage_for(precision, resolved)
        runner = self.compiler.runner() if self.compiler is not None else eager_runner
        budget = stream_pixels() // (2 if storage == "fp32" else 1)
        if x.shape[-2] * x.shape[-1] > budget:
            return translate_tiled(generator, x, resolved, stats_pixels=budget, storage=storage, runner=runner)
        return translate_streamed(generator, x, resolved, storage=storage, runner=runner)

    def translate(self, image: ImageInput, direction: str, precision: str = "auto",
                  max_pixels: int | None = None) -> Image.Image:
        """Translate a whole image at its own resolution (aspect kept, EXIF orientation applied)."""
        x = image_to_tensor(load_image(image, max_pixels))
        return tensor_to_image(self.translate_tensor(x, direction, precision))

    def cycle(self, image: ImageInput, direction: str, precision: str = "auto",
              max_pixels: int | None = None) -> CycleResult:
        """Translate and translate back: (G(x), F(G(x))) for AtoB, (F(y), G(F(y))) for BtoA."""
        back = "BtoA" if direction == "AtoB" else "AtoB"
        x = image_to_tensor(load_image(image, max_pixels))
        y = self.translate_tensor(x, direction, precision)
        return CycleResult(tensor_to_image(y), tensor_to_image(self.translate_tensor(y, back, precision)))
