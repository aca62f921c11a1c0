"""Built-in synthetic domains for the Learn tab: shapes, textures and colours drawn on the fly.

Nothing to download, and every image is different (where its objects are, how big, how many,
their exact colour, the background), so "does the output depend on the input?" is measurable.
Images are tensors in [-1, 1] shaped (N, 3, H, W), as the generators take them.

A task is two domains drawn from one random *layout* (positions, sizes, colours, textures). The
same layout drawn in domain A and in domain B is the true translation of one into the other,
which CycleGAN never sees (it trains on unpaired images) but a lesson can score against:

    red ↔ blue          colour: the same shapes, red in A and blue in B (easy, learnt in seconds)
    stripes ↔ dots      texture: the same objects, filled with stripes in A and dots in B
    circles ↔ squares   geometry: a change of outline, which CycleGAN cannot make (Zhu et al.
                        2017, Sec. 6, "Limitations": outputs keep the input's shape)

Every image has a one-pixel white frame, as a print has: the generators' instance normalisation
removes each image's average colour, and a fixed white gives them a reference to recover it (without
it a flat background's colour is lost, and with it much of what the lessons measure). Everything is
tensor arithmetic on a coordinate grid (thousands of images per second).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from PIL import Image

from cyclegan_core.engine.images import tensor_to_image

DOMAINS = ("A", "B")
SHAPES = ("circle", "square", "mixed")  # "mixed": each object is a circle or a square
FILLS = ("solid", "stripes", "dots")
PALETTES = ("red", "blue", "any")  # "blue" is "red" with its red and blue channels swapped
MAX_OBJECTS = 3
MIN_SIZE, MAX_SIZE = 16, 256


@dataclass(frozen=True)
class Domain:
    """How one domain draws a layout's objects: their outline, their fill and their colours."""

    name: str
    shape: str = "mixed"
    fill: str = "solid"
    palette: str = "any"

    def __post_init__(self):
        if self.shape not in SHAPES or self.fill not in FILLS or self.palette not in PALETTES:
            raise ValueError(f"domain {self.name!r}: shape, fill or palette not one of {SHAPES}, {FILLS}, {PALETTES}")


@dataclass(frozen=True)
class Layout:
    """What a batch of images shows, independent of domain; values in [0, 1] unless said otherwise."""

    centres: torch.Tensor  # (N, K, 2): y, x as fractions of the side
    radii: torch.Tensor  # (N, K): half the object's width, as a fraction of the side
    present: torch.Tensor  # (N, K) bool: the first object always, the others by chance
    is_square: torch.Tensor  # (N, K) bool: the outline a "mixed" domain gives each object
    colour: torch.Tensor  # (N, K, 3): jitter from which each palette makes its colour
    texture: torch.Tensor  # (N, 3): the pattern's angle, period and phase
    background: torch.Tensor  # (N, 3): hue, saturation, brightness of the background
    gradient: torch.Tensor  # (N, 2): a gentle light gradient across the background (y, x slope)


@dataclass(frozen=True)
class Pairs:
    """One layout drawn in both domains: `b` is the true translation of `a` (and `a` of `b`).
    `mask_a` and `mask_b` (N, 1, H, W) are where each domain's objects are (1) or not (0)."""

    a: torch.Tensor
    b: torch.Tensor
    mask_a: torch.Tensor
    mask_b: torch.Tensor


@dataclass(frozen=True)
class SyntheticTask:
    """Two synthetic domains and a sentence saying what changes between them. `radius` is the
    objects' size range (a fraction of the side)."""

    name: str
    title: str
    domain_a: Domain
    domain_b: Domain
    description: str
    radius: tuple[float, float] = (0.12, 0.24)

    def domain(self, domain: str) -> Domain:
        if domain not in DOMAINS:
            raise ValueError(f"unknown domain {domain!r}; expected 'A' or 'B'")
        return self.domain_a if domain == "A" else self.domain_b

    def layout(self, n: int, generator: torch.Generator | None = None) -> Layout:
        """`n` random layouts (objects, colours, background) that either domain can draw."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        g = generator
        low, high = self.radius
        radii = low + (high - low) * torch.rand(n, MAX_OBJECTS, generator=g)
        centres = radii.unsqueeze(-1) + (1 - 2 * radii.unsqueeze(-1)) * torch.rand(n, MAX_OBJECTS, 2, generator=g)
        present = torch.rand(n, MAX_OBJECTS, generator=g) < 0.5
        present[:, 0] = True
        return Layout(
            centres=centres, radii=radii, present=present,
            is_square=torch.rand(n, MAX_OBJECTS, generator=g) < 0.5,
            colour=torch.rand(n, MAX_OBJECTS, 3, generator=g),
            texture=torch.rand(n, 3, generator=g),
            background=torch.rand(n, 3, generator=g),
            gradient=torch.rand(n, 2, generator=g) * 2 - 1,
        )

    def draw(self, domain: str, layout: Layout, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        """`layout` drawn in `domain` at size × size: (images in [-1, 1], object masks in [0, 1])."""
        check_size(size)
        spec = self.domain(domain)
        yy, xx = grid(size)
        image = background(layout, yy, xx)
        mask = torch.zeros(image.shape[0], 1, size, size)
        pattern = ink(spec.fill, layout.texture, yy, xx)  # the same texture for every object of an image
        for k in range(MAX_OBJECTS):  # later objects are drawn over earlier ones
            square = layout.is_square[:, k] if spec.shape == "mixed" else torch.full_like(
                layout.is_square[:, k], spec.shape == "square")
            m = object_mask(layout.centres[:, k], layout.radii[:, k], square, yy, xx, size)
            m = m * layout.present[:, k].float().view(-1, 1, 1, 1)
            colour = palette_colour(spec.palette, layout.colour[:, k]).view(-1, 3, 1, 1)
            fill = colour if pattern is None else colour + (0.75 - 0.75 * colour) * (1 - pattern)
            image = image + (fill - image) * m
            mask = torch.maximum(mask, m)
        return framed(image) * 2 - 1, mask

    def sample(self, domain: str, n: int, size: int = 32, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` random images of `domain` (N, 3, size, size) in [-1, 1]; seeded by `generator`."""
        self.domain(domain)  # validates it before drawing anything
        return self.draw(domain, self.layout(n, generator), size)[0]

    def pairs(self, n: int, size: int = 32, generator: torch.Generator | None = None) -> Pairs:
        """`n` layouts drawn in both domains: images and their true translations, with masks."""
        layout = self.layout(n, generator)
        a, mask_a = self.draw("A", layout, size)
        b, mask_b = self.draw("B", layout, size)
        return Pairs(a, b, mask_a, mask_b)


def check_size(size: int) -> None:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"synthetic images are {MIN_SIZE}–{MAX_SIZE} px, not {size}")


def grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates in [0, 1], each (1, 1, size, size): rows (y) and columns (x)."""
    t = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    return t.view(1, 1, size, 1).expand(1, 1, size, size), t.view(1, 1, 1, size).expand(1, 1, size, size)


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hue, saturation, value (…, each in [0, 1]) → RGB (…, 3) in [0, 1]."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + h.unsqueeze(-1) * 6) % 6
    return v.unsqueeze(-1) - (v * s).unsqueeze(-1) * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def background(layout: Layout, yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    """A pale colour of any hue (saturation ≤ 0.2, brightness 0.65–0.9) with a gentle gradient."""
    hue, sat, val = layout.background.unbind(-1)
    rgb = hsv_to_rgb(hue, 0.2 * sat, 0.65 + 0.25 * val).view(-1, 3, 1, 1)
    slope_y, slope_x = (0.12 * layout.gradient).unbind(-1)
    light = slope_y.view(-1, 1, 1, 1) * (yy - 0.5) + slope_x.view(-1, 1, 1, 1) * (xx - 0.5)
    return (rgb + light).clamp(0, 1)


def framed(image: torch.Tensor) -> torch.Tensor:
    """A one-pixel white frame (per 32 px), as a print has. The generators' instance
    normalisation removes each image's average colour; a fixed white gives them a reference."""
    width = max(1, round(image.shape[-1] / 32))
    out = image.clone()
    out[..., :width, :] = out[..., -width:, :] = 1.0
    out[..., :, :width] = out[..., :, -width:] = 1.0
    return out


def object_mask(centre: torch.Tensor, radius: torch.Tensor, square: torch.Tensor, yy: torch.Tensor,
                xx: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 1, H, W) coverage of one object per image: a disc or a square of half-width `radius`,
    with a one-pixel anti-aliased edge."""
    dy = (yy - centre[:, 0].view(-1, 1, 1, 1)).abs()
    dx = (xx - centre[:, 1].view(-1, 1, 1, 1)).abs()
    distance = torch.where(square.view(-1, 1, 1, 1), torch.maximum(dy, dx), torch.sqrt(dy * dy + dx * dx))
    return ((radius.view(-1, 1, 1, 1) - distance) * size + 0.5).clamp(0, 1)


def palette_colour(palette: str, jitter: torch.Tensor) -> torch.Tensor:
    """(N, 3) jitter in [0, 1] → (N, 3) RGB: a saturated red, the matching blue, or any hue."""
    if palette == "any":
        return hsv_to_rgb(jitter[:, 0], 0.65 + 0.35 * jitter[:, 1], 0.7 + 0.3 * jitter[:, 2])
    red = torch.stack([0.75 + 0.25 * jitter[:, 0], 0.05 + 0.25 * jitter[:, 1], 0.05 + 0.25 * jitter[:, 2]], -1)
    return red if palette == "red" else red.flip(-1)


def ink(fill: str, texture: torch.Tensor, yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor | None:
    """(N, 1, H, W) where a patterned fill puts the object's colour (1) or a pale tint of it
    (0): stripes, or dots on a lattice along the same direction; None for a solid fill."""
    if fill == "solid":
        return None
    angle = math.pi * texture[:, 0].view(-1, 1, 1, 1)
    period = (0.16 + 0.08 * texture[:, 1]).view(-1, 1, 1, 1)  # 5–8 px at 32 px
    phase = 2 * math.pi * texture[:, 2].view(-1, 1, 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    u = (xx * cos + yy * sin) * (2 * math.pi / period) + phase
    if fill == "stripes":
        pattern = torch.sin(u)
    else:
        v = (yy * cos - xx * sin) * (2 * math.pi / period)
        pattern = (torch.cos(u) + 1) * (torch.cos(v) + 1) - 1.6
    return (pattern * 3 + 0.5).clamp(0, 1)  # soft-edged


SYNTHETIC_TASKS: dict[str, SyntheticTask] = {task.name: task for task in (
    SyntheticTask(
        "red_blue", "red shapes ↔ blue shapes",
        Domain("red shapes", "mixed", "solid", "red"), Domain("blue shapes", "mixed", "solid", "blue"),
        "Circles and squares on a pale background; only their colour differs between the domains. "
        "A colour change: what CycleGAN does well, and a tiny network learns it in seconds."),
    SyntheticTask(
        "stripes_dots", "stripes ↔ dots",
        Domain("striped objects", "mixed", "stripes", "any"), Domain("dotted objects", "mixed", "dots", "any"),
        "The same objects filled with stripes or with dots: a change of texture, as horse ↔ zebra is.",
        radius=(0.22, 0.34)),
    SyntheticTask(
        "circles_squares", "circles ↔ squares",
        Domain("circles", "circle", "solid", "any"), Domain("squares", "square", "solid", "any"),
        "Circles become squares: a change of geometry. CycleGAN's generators change colour and texture "
        "but keep the input's outline, so this fails (Zhu et al. 2017, Sec. 6).",
        radius=(0.2, 0.3)),
)}


def get_task(name: str) -> SyntheticTask:
    """The catalogued task `name`, or a ValueError that lists the names."""
    if name not in SYNTHETIC_TASKS:
        raise ValueError(f"unknown synthetic task {name!r}; expected one of {', '.join(SYNTHETIC_TASKS)}")
    return SYNTHETIC_TASKS[name]


def to_images(batch: torch.Tensor) -> list[Image.Image]:
    """(N, 3, H, W) in [-1, 1] → N RGB images."""
    return [tensor_to_image(x.unsqueeze(0)) for x in batch]


def examples(task: str | SyntheticTask, domain: str, n: int = 4, size: int = 32, seed: int = 0) -> list[Image.Image]:
    """`n` example images of `domain` ("A" or "B"), the same ones for the same seed, for the UI."""
    task = get_task(task) if isinstance(task, str) else task
    return to_images(task.sample(domain, n, size, torch.Generator().manual_seed(seed)))
