"""The shipped example pictures (demo/examples/examples.json): each listed file is there, opens, is small
enough, has its licence and source recorded, every task's input domain has a picture, and the drawn
label maps are in their datasets' palettes (and are what scripts/draw_examples.py draws)."""

import importlib.util
import json

import pytest
from PIL import Image

from conftest import ROOT

EXAMPLES = ROOT / "demo" / "examples"
DOMAINS = ["summer", "winter", "horse", "zebra", "apple", "orange", "Monet painting", "photo", "phone photo",
           "satellite photo", "map", "street photo", "street labels", "facade photo", "facade labels",
           "modern photo"]


def _draw_module():
    spec = importlib.util.spec_from_file_location("draw_examples", ROOT / "scripts" / "draw_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest():
    data = json.loads((EXAMPLES / "examples.json").read_text(encoding="utf-8"))
    assert isinstance(data, list) and data
    return data


def test_every_entry_is_complete_and_its_picture_opens_small_enough(manifest):
    names = [entry["file"] for entry in manifest]
    assert len(names) == len(set(names))
    for entry in manifest:
        for key in ("file", "title", "author", "source", "license"):
            assert isinstance(entry.get(key), str) and entry[key].strip(), (entry.get("file"), key)
        assert isinstance(entry.get("license_url", ""), str)
        assert entry["domains"] and all(isinstance(d, str) for d in entry["domains"])
        assert "/" not in entry["file"] and not entry["file"].startswith(".")
        with Image.open(EXAMPLES / entry["file"]) as image:
            image.load()
            assert max(image.size) <= 768, entry["file"]


def test_every_input_domain_has_a_picture(manifest):
    covered = {domain for entry in manifest for domain in entry["domains"]}
    assert not set(DOMAINS) - covered
    assert not covered - set(DOMAINS), "a domain tag no task uses (a typo?)"


def test_every_picture_in_the_folder_is_listed_and_the_folder_is_small(manifest):
    listed = {entry["file"] for entry in manifest}
    pictures = {p.name for p in EXAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")}
    assert pictures == listed
    assert sum(p.stat().st_size for p in EXAMPLES.iterdir() if p.is_file()) <= 4 * 2**20


@pytest.mark.parametrize("name, palette", [("street_labels.png", "CITYSCAPES"), ("facade_labels.png", "CMP_FACADE"),
                                           ("map.png", "MAP")])
def test_drawn_pictures_use_their_palette_and_match_the_script(manifest, name, palette):
    draw = _draw_module()
    colours = set(getattr(draw, palette).values())
    with Image.open(EXAMPLES / name) as image:
        pixels = image.convert("RGB")
    counts = pixels.getcolors(maxcolors=1 << 16)
    in_palette = sum(n for n, colour in counts if colour in colours)
    assert in_palette >= 0.9 * pixels.width * pixels.height
    drawn = {"street_labels.png": draw.street_labels, "facade_labels.png": draw.facade_labels,
             "map.png": draw.street_map}[name]()
    assert drawn.tobytes() == pixels.tobytes(), f"{name} is not what scripts/draw_examples.py draws"
    entry = next(e for e in manifest if e["file"] == name)
    assert "draw_examples.py" in entry["source"] and entry["license"].startswith("MIT")
