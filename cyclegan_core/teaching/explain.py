"""The cycle, seen: what Eq. 2 and the identity term of Sec. 5.2 measure, as pictures and numbers.

    view = forward_cycle(x, G, F)      # x, G(x), F(G(x)), the per-pixel error |F(G(x)) − x| and its mean
    view = identity_view(y, G)         # y, G(y): a generator shown a picture of its *own* output domain

Generators are any callables from a 1×3×H×W tensor in [-1, 1] to one of the same shape, so a
`CycleGAN`'s directions (`model_translator`), a training-time network or `lambda x: x` all work.
The mean of the error map is exactly the L1 term of Eq. 2 before λ: mean |F(G(x)) − x| over pixels
and channels in the network's [-1, 1] units (`losses.cycle_loss` with weight 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image

from cyclegan_core.engine.images import image_to_tensor, tensor_to_image
from cyclegan_core.nn.losses import cycle_loss

Translator = Callable[[torch.Tensor], torch.Tensor]

# Plain words and the equation for each view (KaTeX in the app).
CYCLE_TEXT = ("Translate, then translate back: if nothing was lost, the second picture is the first one "
              "again. Bright pixels in the heat map are where the round trip failed.")
CYCLE_EQUATION = (r"\mathcal{L}_{cyc}(G,F) = \mathbb{E}_{x}\big[\lVert F(G(x)) - x \rVert_1\big]"
                  r" + \mathbb{E}_{y}\big[\lVert G(F(y)) - y \rVert_1\big] \quad \text{(Eq. 2)}")
BACKWARD_TEXT = ("The same round trip the other way: a picture of the target domain through F, then G. "
                 "Training asks both round trips to come back.")
IDENTITY_TEXT = ("Show a generator a picture that is already in its output domain: it should leave it alone. "
                 "This term keeps colours from drifting (without it, a sunny sky may turn purple).")
IDENTITY_EQUATION = (r"\mathcal{L}_{identity}(G,F) = \mathbb{E}_{y}\big[\lVert G(y) - y \rVert_1\big]"
                     r" + \mathbb{E}_{x}\big[\lVert F(x) - x \rVert_1\big] \quad \text{(Sec. 5.2)}")


@dataclass(frozen=True)
class CycleView:
    """One round trip: `images` in order (x, G(x), F(G(x))), or (y, G(y)) for the identity view;
    `error` is the per-pixel |last − first| averaged over channels (H×W, [-1, 1] units, so 0…2)."""

    images: tuple[torch.Tensor, ...]
    error: torch.Tensor

    @property
    def mean_error(self) -> float:
        """The L1 term of Eq. 2 (or of the identity loss) for this image, before λ."""
        return float(self.error.mean())

    def pictures(self) -> list[Image.Image]:
        return [tensor_to_image(t) for t in self.images]

    def heat_map(self, vmax: float = 0.5) -> Image.Image:
        return heat_map(self.error, vmax)


def error_map(result: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """|result − original| averaged over channels: H×W, the image's own size."""
    if result.shape != original.shape:
        raise ValueError(f"cannot compare a {tuple(result.shape)} result with a {tuple(original.shape)} original")
    return (result.float() - original.float()).abs().mean(dim=1)[0]


@torch.no_grad()
def forward_cycle(x: torch.Tensor, G: Translator, F: Translator) -> CycleView:
    """x → G(x) → F(G(x)) (Eq. 2's forward cycle). For the backward cycle pass (y, F, G)."""
    fake = G(x)
    rec = F(fake)
    return CycleView((x, fake, rec), error_map(rec, x))


@torch.no_grad()
def identity_view(y: torch.Tensor, G: Translator) -> CycleView:
    """y → G(y) for y already in G's output domain (Sec. 5.2): ideally nothing changes."""
    same = G(y)
    return CycleView((y, same), error_map(same, y))


def cycle_term(x: torch.Tensor, rec: torch.Tensor) -> float:
    """The same number through the training code's own loss (`losses.cycle_loss`, λ = 1)."""
    return float(cycle_loss(rec, x, 1.0))


def model_translator(model, direction: str, precision: str = "auto") -> Translator:
    """One direction of a `CycleGAN` as a tensor → tensor callable (any size, `translate_tensor`)."""
    return lambda t: model.translate_tensor(t, direction, precision)


def fit_for_teaching(image: Image.Image, max_side: int = 256) -> torch.Tensor:
    """A picture as a 1×3×H×W tensor, shrunk (aspect kept) so its longer side is at most `max_side`
    and both sides are multiples of 4: a view answers in seconds on a small CPU."""
    w, h = image.size
    scale = min(1.0, max_side / max(w, h))
    size = (max(8, int(w * scale) // 4 * 4), max(8, int(h * scale) // 4 * 4))
    if size != (w, h):
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image_to_tensor(image)


# A perceptual colour ramp (black → purple → orange → pale yellow, like matplotlib's "inferno").
RAMP = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                 [245, 125, 21], [250, 193, 39], [252, 255, 164]], dtype=np.float64)


def heat_map(values: torch.Tensor, vmax: float) -> Image.Image:
    """An H×W map of non-negative values as a colour image: 0 is black, ≥ `vmax` pale yellow."""
    v = np.clip(values.detach().float().cpu().numpy() / max(vmax, 1e-12), 0.0, 1.0)
    position = v * (len(RAMP) - 1)
    low = np.floor(position).astype(int).clip(0, len(RAMP) - 2)
    frac = (position - low)[..., None]
    rgb = RAMP[low] * (1 - frac) + RAMP[low + 1] * frac
    return Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")
