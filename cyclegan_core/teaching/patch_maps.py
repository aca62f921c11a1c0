"""A model's discriminators and what they see: the 70×70 PatchGAN's map of "how real does each patch look".

D_A is the paper's D_X (real A vs F(b)) and D_B its D_Y (real B vs G(a)). They exist only for
training (Sec. 3.1) and are not part of a model folder, so a model gets them from:

- its training state, for any model trained with this code (a run folder keeps all four networks);
- `discriminators.safetensors` beside the model, written by `train_discriminators`: D-only training
  against the frozen generators on a few real pictures of each domain, for models released without
  discriminators (the official zoo).

Each output value of a PatchGAN judges one receptive field of the input (70×70 pixels for the
paper's 3-layer D, Sec. 4 and Isola et al. 2017), so its output is a map, not one number.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from cyclegan_core.atomic import atomic_path
from cyclegan_core.engine.images import image_to_tensor, tensor_to_image
from cyclegan_core.errors import ModelFormatError
from cyclegan_core.model.folder import load_state_strict
from cyclegan_core.nn.losses import discriminator_loss
from cyclegan_core.nn.networks import NLayerDiscriminator, init_weights
from cyclegan_core.teaching.explain import heat_map
from cyclegan_core.training.runs import STATE_NAME

DISCRIMINATORS_NAME = "discriminators.safetensors"
FORMAT_VERSION = "1"
TEXT = ("The discriminator never sees the whole picture at once: each square of its output judges one "
        "patch of the input. Bright squares look real to it, dark ones look generated.")
EQUATION = (r"\mathcal{L}_{GAN}(G, D_Y) = \mathbb{E}_{y}\big[(D_Y(y) - 1)^2\big] + "
            r"\mathbb{E}_{x}\big[D_Y(G(x))^2\big] \quad \text{(Eq. 1, least squares as in Sec. 4)}")


# --- geometry of the PatchGAN ---

def layer_geometry(n_layers: int = 3) -> list[tuple[int, int, int]]:
    """(kernel, stride, padding) of each conv of `networks.NLayerDiscriminator`, input to output."""
    return [(4, 2, 1)] + [(4, 2 if n < n_layers else 1, 1) for n in range(1, n_layers + 1)] + [(4, 1, 1)]


def receptive_field(n_layers: int = 3) -> int:
    """Input pixels one output value sees along each side: 70 for the paper's 3-layer D."""
    size = 1
    for kernel, stride, _ in reversed(layer_geometry(n_layers)):
        size = (size - 1) * stride + kernel
    return size


def patch_grid_size(height: int, width: int, n_layers: int = 3) -> tuple[int, int]:
    """The output map's size for an input of `height` × `width` (e.g. 256² → 30×30)."""
    for kernel, stride, padding in layer_geometry(n_layers):
        height = (height + 2 * padding - kernel) // stride + 1
        width = (width + 2 * padding - kernel) // stride + 1
    return height, width


def patch_box(row: int, col: int, n_layers: int = 3) -> tuple[int, int, int, int]:
    """The input pixels (left, top, right, bottom; may reach past the border into the padding) that
    output value (row, col) depends on."""
    start, jump = 0, 1
    for kernel, stride, padding in layer_geometry(n_layers):
        start -= padding * jump
        jump *= stride
    size = receptive_field(n_layers)
    return col * jump + start, row * jump + start, col * jump + start + size, row * jump + start + size


# --- a model's discriminators ---

@dataclass
class Discriminators:
    """D_A (D_X) and D_B (D_Y), with where they came from in plain words."""

    D_A: NLayerDiscriminator
    D_B: NLayerDiscriminator
    origin: str
    ndf: int = 64
    n_layers: int = 3

    def for_domain(self, domain: str) -> NLayerDiscriminator:
        """The discriminator that judges pictures of `domain` ("A" or "B")."""
        return {"A": self.D_A, "B": self.D_B}[domain]


def _networks(ndf: int, n_layers: int) -> tuple[NLayerDiscriminator, NLayerDiscriminator]:
    return NLayerDiscriminator(ndf, n_layers).eval(), NLayerDiscriminator(ndf, n_layers).eval()


def _load(path: Path, origin: str, ndf: int, n_layers: int) -> Discriminators:
    tensors = load_file(str(path))
    D_A, D_B = _networks(ndf, n_layers)
    for name, net in (("D_A", D_A), ("D_B", D_B)):
        prefix = f"{name}."
        load_state_strict(net, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                          f"{path} ({name})")
    return Discriminators(D_A, D_B, origin, ndf, n_layers)


def _metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), "pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFormatError(f"{path} is not a readable safetensors file ({e})") from None


def find_discriminators(folder: Path | str | None) -> Discriminators | None:
    """The discriminators kept with the model in `folder`: from its training state (a run), else
    from `discriminators.safetensors`; None when it has neither."""
    if folder is None:
        return None
    folder = Path(folder)
    state = folder / STATE_NAME
    if state.is_file():
        meta = _metadata(state)
        config = json.loads(meta.get("config", "{}"))
        return _load(state, f"this model's own discriminators, from its training (step {meta.get('step', '?')})",
                     int(config.get("ndf", 64)), int(config.get("n_layers_D", 3)))
    path = folder / DISCRIMINATORS_NAME
    if path.is_file():
        meta = _metadata(path)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelFormatError(f"{path}: unknown discriminator file format {meta.get('format_version')!r}")
        return _load(path, meta.get("origin", "trained for this model"), int(meta["ndf"]), int(meta["n_layers"]))
    return None


def discriminators_bytes(ndf: int = 64, n_layers: int = 3) -> int:
    """About the disk `save_discriminators` takes for D_A and D_B of this shape (float32, and a margin
    for the file's header): ≈22 MB for the paper's D."""
    with torch.device("meta"):
        count = sum(t.numel() for t in NLayerDiscriminator(ndf, n_layers).state_dict().values())
    return 2 * 4 * count + (64 << 10)


def save_discriminators(discriminators: Discriminators, folder: Path | str) -> Path:
    """Write `discriminators.safetensors` into `folder` (atomically)."""
    path = Path(folder) / DISCRIMINATORS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"{name}.{k}": v.detach().cpu().contiguous()
               for name, net in (("D_A", discriminators.D_A), ("D_B", discriminators.D_B))
               for k, v in net.state_dict().items()}
    meta = {"format_version": FORMAT_VERSION, "origin": discriminators.origin,
            "ndf": str(discriminators.ndf), "n_layers": str(discriminators.n_layers)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


# --- D-only training against frozen generators ---

@dataclass(frozen=True)
class DiscriminatorProgress:
    step: int
    seconds: float
    loss_A: float  # D_A's loss (Eq. 1, halved): 0.25 is chance for LSGAN with outputs at 0.5
    loss_B: float


def training_pairs(G_AB: Callable, G_BA: Callable, images_a: Sequence[Image.Image],
                   images_b: Sequence[Image.Image], max_side: int = 286):
    """Real and generated pictures for each D, made once (the generators are frozen): D_A sees
    real a vs F(b), D_B sees real b vs G(a). Pictures are shrunk to `max_side` (the reference's load size)."""
    def prepared(images):
        out = []
        for image in images:
            scale = min(1.0, max_side / max(image.size))
            size = (max(8, int(image.width * scale) // 4 * 4), max(8, int(image.height * scale) // 4 * 4))
            out.append(image_to_tensor(image.convert("RGB").resize(size, Image.Resampling.LANCZOS)))
        return out

    reals_a, reals_b = prepared(images_a), prepared(images_b)
    with torch.no_grad():
        fakes_b = [G_AB(a).float() for a in reals_a]
        fakes_a = [G_BA(b).float() for b in reals_b]
    return (reals_a, fakes_a), (reals_b, fakes_b)


def _crops(pictures: list[torch.Tensor], n: int, size: int, rng: random.Random) -> torch.Tensor:
    """`n` random size×size crops (randomly flipped) from `pictures`, padded by reflection if small."""
    out = []
    for _ in range(n):
        t = pictures[rng.randrange(len(pictures))]
        h, w = t.shape[-2:]
        if h < size or w < size:
            t = F.pad(t, (0, max(0, size - w), 0, max(0, size - h)), mode="reflect" if min(h, w) > size // 2
                      else "replicate")
            h, w = t.shape[-2:]
        top, left = rng.randrange(h - size + 1), rng.randrange(w - size + 1)
        crop = t[..., top:top + size, left:left + size]
        out.append(crop.flip(-1) if rng.random() < 0.5 else crop)
    return torch.cat(out)


def train_discriminators(G_AB: Callable, G_BA: Callable, images_a: Sequence[Image.Image],
                         images_b: Sequence[Image.Image], *, seconds: float = 60.0, max_steps: int | None = None,
                         crop: int = 128, batch_size: int = 4, ndf: int = 64, n_layers: int = 3, lr: float = 2e-4,
                         seed: int = 0, progress: Callable[[DiscriminatorProgress], None] | None = None,
                         stop: Callable[[], bool] | None = None, device: str | torch.device = "cpu") -> Discriminators:
    """Fresh PatchGANs trained alone (Eq. 1, D's side, halved; Adam β₁ 0.5 as in the paper) for at
    most `seconds` (or `max_steps`) while the generators stay frozen. Needs real pictures of both
    domains: `images_a` feed D_A's reals and G's inputs, `images_b` D_B's reals and F's inputs.
    `device`: where D trains (the crops go there); the result is on the CPU, ready to save."""
    if not images_a or not images_b:
        raise ValueError("training discriminators needs at least one real picture of each domain")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    (reals_a, fakes_a), (reals_b, fakes_b) = training_pairs(G_AB, G_BA, images_a, images_b)
    D_A, D_B = (init_weights(net).to(device).train() for net in _networks(ndf, n_layers))
    optimiser = torch.optim.Adam([*D_A.parameters(), *D_B.parameters()], lr=lr, betas=(0.5, 0.999))
    start, step = time.perf_counter(), 0
    while (max_steps is None or step < max_steps) and time.perf_counter() - start < seconds:
        if stop is not None and stop():
            break
        optimiser.zero_grad(set_to_none=True)
        loss_A = discriminator_loss(D_A(_crops(reals_a, batch_size, crop, rng).to(device)),
                                    D_A(_crops(fakes_a, batch_size, crop, rng).to(device)))
        loss_B = discriminator_loss(D_B(_crops(reals_b, batch_size, crop, rng).to(device)),
                                    D_B(_crops(fakes_b, batch_size, crop, rng).to(device)))
        (loss_A + loss_B).backward()
        optimiser.step()
        step += 1
        if progress is not None:
            progress(DiscriminatorProgress(step, time.perf_counter() - start, float(loss_A.detach()), float(loss_B.detach())))
    elapsed = time.perf_counter() - start
    origin = (f"trained for this model in {elapsed:.0f} s ({step} steps) on {len(images_a)} + {len(images_b)} "
              f"pictures, against its frozen generators")
    return Discriminators(D_A.cpu().eval(), D_B.cpu().eval(), origin, ndf, n_layers)


# --- what D sees ---

@torch.no_grad()
def patch_scores(D: NLayerDiscriminator, x: torch.Tensor) -> torch.Tensor:
    """D's raw output for a 1×3×H×W picture: an h×w map (LSGAN: ≈1 looks real, ≈0 looks generated)."""
    return D.eval()(x.float())[0, 0]


def realness_map(scores: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """The score map as a heat map at `size` (width, height), one flat square per patch."""
    image = heat_map(scores.clamp(0, 1), 1.0)
    return image.resize(size, Image.Resampling.NEAREST)


def overlay(picture: torch.Tensor, scores: torch.Tensor, alpha: float = 0.55) -> Image.Image:
    """The picture with D's realness map blended over it."""
    base = tensor_to_image(picture)
    return Image.blend(base, realness_map(scores, base.size), alpha)


def mark_patch(image: Image.Image, scores: torch.Tensor, n_layers: int = 3,
               at: tuple[int, int] | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Draw on `image` the receptive field of the output value (row, col) `at` (default: the patch that
    looks most generated) and return the image and that (row, col)."""
    if at is None:
        index = int(torch.argmin(scores))
        at = (index // scores.shape[1], index % scores.shape[1])
    row = min(max(at[0], 0), scores.shape[0] - 1)
    col = min(max(at[1], 0), scores.shape[1] - 1)
    marked = image.copy()
    draw = ImageDraw.Draw(marked)
    left, top, right, bottom = patch_box(row, col, n_layers)
    # Near an edge the field reaches into the convolutions' padding: the part on the picture is drawn.
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(right, marked.width), min(bottom, marked.height)
    for width, colour in ((4, (0, 0, 0)), (2, (0, 255, 255))):
        draw.rectangle((left, top, right - 1, bottom - 1), outline=colour, width=width)
    return marked, (row, col)
