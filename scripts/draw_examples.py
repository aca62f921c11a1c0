"""Draw the example pictures that no redistributable photo could stand in for.

    python scripts/draw_examples.py          # writes demo/examples/{street_labels,facade_labels,map}.png

- `street_labels.png`: a Cityscapes-style semantic label map of a street seen from a car, in the
  official Cityscapes colours (the input of labels → street photo).
- `facade_labels.png`: a CMP-Facade-style label map of a rectified building front, in the colours of
  the pix2pix "facades" set (MATLAB's `jet(12)` over the 12 CMP classes).
- `map.png`: a street map in a web-map look (light ground, white streets, yellow main roads, green
  parks, blue water), the input of map → satellite photo.

Pillow only, no anti-aliasing (each pixel is exactly one palette colour) and deterministic: the same
bytes every run. Licence: MIT, like the rest of this project.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "demo" / "examples"

# Cityscapes label colours (cityscapesScripts, labels.py).
CITYSCAPES = {
    "road": (128, 64, 128), "sidewalk": (244, 35, 232), "building": (70, 70, 70),
    "wall": (102, 102, 156), "fence": (190, 153, 153), "pole": (153, 153, 153),
    "traffic light": (250, 170, 30), "traffic sign": (220, 220, 0), "vegetation": (107, 142, 35),
    "terrain": (152, 251, 152), "sky": (70, 130, 180), "person": (220, 20, 60), "rider": (255, 0, 0),
    "car": (0, 0, 142), "truck": (0, 0, 70), "bus": (0, 60, 100), "train": (0, 80, 100),
    "motorcycle": (0, 0, 230), "bicycle": (119, 11, 32),
}

# CMP Facade classes 1..12 coloured with jet(12), as in the pix2pix facades set.
CMP_FACADE = {
    "background": (0, 0, 170), "facade": (0, 0, 255), "window": (0, 85, 255), "door": (0, 170, 255),
    "cornice": (0, 255, 255), "sill": (85, 255, 170), "balcony": (170, 255, 85), "blind": (255, 255, 0),
    "deco": (255, 170, 0), "molding": (255, 85, 0), "pillar": (255, 0, 0), "shop": (170, 0, 0),
}

# A web-map look (light ground, white streets with grey casing, yellow main roads, parks, water).
MAP = {
    "ground": (242, 239, 233), "block": (232, 229, 222), "building": (217, 212, 204),
    "park": (200, 230, 190), "water": (170, 211, 240), "street": (255, 255, 255),
    "casing": (205, 200, 192), "main road": (252, 214, 112), "main casing": (226, 178, 80),
}


def street_labels(width: int = 768, height: int = 384) -> Image.Image:
    c = CITYSCAPES
    im = Image.new("RGB", (width, height), c["sky"])
    d = ImageDraw.Draw(im)
    vx, vy = width // 2, int(height * 0.45)  # vanishing point
    # Buildings on both sides: facades receding towards the vanishing point.
    d.polygon([(0, 0), (vx - 70, vy - 90), (vx - 70, vy + 10), (0, height)], fill=c["building"])
    d.polygon([(width, 20), (vx + 60, vy - 80), (vx + 60, vy + 10), (width, height)], fill=c["building"])
    d.rectangle([vx - 70, vy - 90, vx + 60, vy + 10], fill=c["building"])  # far end of the street
    # Road and sidewalks.
    d.polygon([(vx - 30, vy + 10), (vx + 25, vy + 10), (width, height), (0, height)], fill=c["road"])
    d.polygon([(vx - 70, vy + 10), (vx - 30, vy + 10), (60, height), (0, height), (0, height - 60)],
              fill=c["sidewalk"])
    d.polygon([(vx + 25, vy + 10), (vx + 60, vy + 10), (width, height - 80), (width, height),
               (width - 50, height)], fill=c["sidewalk"])
    # Trees along the left sidewalk, poles and a sign on the right one (nearer = bigger).
    for x, y, r in [(60, 210, 70), (170, 196, 42), (250, 186, 24)]:
        d.rectangle([x - r // 8, y, x + r // 8, y + int(r * 1.6)], fill=c["vegetation"])
        d.ellipse([x - r, y - r, x + r, y + r], fill=c["vegetation"])
    for x, top, bottom, w in [(650, 60, 330, 5), (560, 140, 255, 3), (520, 170, 228, 2)]:
        d.rectangle([x - w, top, x + w, bottom], fill=c["pole"])
    d.polygon([(650, 70), (672, 92), (650, 114), (628, 92)], fill=c["traffic sign"])
    d.rectangle([555, 120, 565, 148], fill=c["traffic light"])
    # Cars on the road and parked on the right, people on the sidewalks.
    for x0, y0, x1, y1 in [(300, 230, 380, 290), (352, 212, 390, 240), (450, 235, 560, 320)]:
        d.rectangle([x0, y0 + (y1 - y0) // 3, x1, y1 - 8], fill=c["car"])
        d.rectangle([x0 + (x1 - x0) // 6, y0, x1 - (x1 - x0) // 6, y0 + (y1 - y0) // 3], fill=c["car"])
        d.rectangle([x0 + 6, y1 - 12, x0 + 18, y1], fill=c["car"])
        d.rectangle([x1 - 18, y1 - 12, x1 - 6, y1], fill=c["car"])
    for x, y, h in [(110, 300, 70), (700, 270, 80), (280, 225, 30)]:
        d.ellipse([x - h // 10, y - h, x + h // 10, y - h + h // 5], fill=c["person"])
        d.rectangle([x - h // 8, y - h + h // 5, x + h // 8, y], fill=c["person"])
    d.rectangle([630, 290, 700, 300], fill=c["fence"])
    return im


def facade_labels(floors: int = 5, bays: int = 6, width: int = 512, height: int = 512) -> Image.Image:
    c = CMP_FACADE
    im = Image.new("RGB", (width, height), c["background"])
    d = ImageDraw.Draw(im)
    left, right, top = 24, width - 24, 40
    d.rectangle([left, top, right, height - 1], fill=c["facade"])
    d.rectangle([left - 8, top, right + 8, top + 14], fill=c["cornice"])
    shop_top = height - 90
    d.rectangle([left, shop_top - 10, right, shop_top], fill=c["molding"])
    floor_h = (shop_top - 10 - (top + 14)) // floors
    bay_w = (right - left) // bays
    for f in range(floors):
        y0 = top + 14 + f * floor_h
        for b in range(bays):
            x0 = left + b * bay_w
            wx0, wx1 = x0 + bay_w // 4, x0 + 3 * bay_w // 4
            wy0, wy1 = y0 + floor_h // 5, y0 + floor_h - floor_h // 4
            d.rectangle([wx0, wy0, wx1, wy1], fill=c["window"])
            if f == 0:  # shutters beside the top floor's windows
                d.rectangle([wx0 - 8, wy0, wx0 - 2, wy1], fill=c["blind"])
                d.rectangle([wx1 + 2, wy0, wx1 + 8, wy1], fill=c["blind"])
            d.rectangle([wx0 - 4, wy1 + 1, wx1 + 4, wy1 + 5], fill=c["sill"])
            if f in (1, 3) and b in (1, 2, 3, 4):  # balconies in front of the lower window part
                d.rectangle([wx0 - 8, wy1 - 14, wx1 + 8, wy1 + 5], fill=c["balcony"])
            if f == 1:
                d.rectangle([wx0, wy0 - 10, wx1, wy0 - 4], fill=c["deco"])
    for x in (left, right - 10):
        d.rectangle([x, top + 14, x + 10, shop_top - 10], fill=c["pillar"])
    for b in range(bays):
        x0 = left + b * bay_w
        if b == bays // 2:
            d.rectangle([x0 + bay_w // 5, shop_top + 8, x0 + 4 * bay_w // 5, height - 1], fill=c["door"])
        else:
            d.rectangle([x0 + 8, shop_top + 14, x0 + bay_w - 8, height - 20], fill=c["shop"])
    return im


def street_map(width: int = 768, height: int = 512, seed: int = 0) -> Image.Image:
    c = MAP
    rng = random.Random(seed)
    im = Image.new("RGB", (width, height), c["ground"])
    d = ImageDraw.Draw(im)
    xs, ys = list(range(-20, width + 80, 96)), list(range(-10, height + 80, 80))
    # City blocks with buildings, one of them a park.
    for i, x in enumerate(xs[:-1]):
        for j, y in enumerate(ys[:-1]):
            x0, y0, x1, y1 = x + 7, y + 7, xs[i + 1] - 7, ys[j + 1] - 7
            if (i, j) in ((5, 1), (5, 2), (6, 1), (6, 2)):
                continue  # the park, drawn below
            d.rectangle([x0, y0, x1, y1], fill=c["block"])
            for _ in range(rng.randint(2, 4)):
                bx, by = rng.randint(x0 + 2, x1 - 24), rng.randint(y0 + 2, y1 - 20)
                d.rectangle([bx, by, bx + rng.randint(14, 34), by + rng.randint(12, 28)], fill=c["building"])
    d.rectangle([xs[5] + 7, ys[1] + 7, xs[7] - 7, ys[3] - 7], fill=c["park"])
    # Streets: grey casing first, then the white fill.
    for line_width, colour in ((12, c["casing"]), (8, c["street"])):
        for x in xs:
            d.line([(x, 0), (x, height)], fill=colour, width=line_width)
        for y in ys:
            d.line([(0, y), (width, y)], fill=colour, width=line_width)
    # A river across the lower left, with a green bank; the main roads cross it on bridges.
    bank = [(0, 318), (120, 346), (260, 386), (400, 416), (520, 456), (580, height), (0, height)]
    river = [(0, 334), (120, 362), (260, 402), (400, 432), (510, 472), (560, height), (0, height)]
    d.polygon(bank, fill=c["park"])
    d.polygon(river, fill=c["water"])
    for line_width, colour in ((18, c["main casing"]), (13, c["main road"])):
        d.line([(0, ys[3]), (width, ys[3])], fill=colour, width=line_width)
        d.line([(xs[3], 0), (xs[3], height)], fill=colour, width=line_width)
        d.line([(0, 60), (width, 470)], fill=colour, width=line_width)  # a diagonal avenue
    return im


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, image in (("street_labels.png", street_labels()), ("facade_labels.png", facade_labels()),
                        ("map.png", street_map())):
        image.save(OUT / name, optimize=True)
        print(OUT / name, image.size)


if __name__ == "__main__":
    main()
