"""Toy models (teaching/toy_models.py): trained once on a synthetic task, whole model folders with their D's."""

import pytest
from PIL import Image

from cyclegan_core import is_model_folder, load_model
from cyclegan_core.teaching.toy_models import example_pictures, make_toy_model
from cyclegan_core.teaching.patch_maps import find_discriminators
from cyclegan_core.engine.images import image_to_tensor


@pytest.mark.slow
def test_a_toy_model_learns_its_task_and_keeps_its_discriminators(toy_red_blue, tmp_path):
    folder = toy_red_blue  # make_toy_model("red_blue", <root>/.toy/red_blue, steps=90): conftest.py
    assert is_model_folder(folder) and not list(folder.parent.glob(".*"))  # nothing half-built left
    model = load_model(folder)
    assert "toy:" in model.config.provenance and model.config.domain_a == "red shapes"
    ds = find_discriminators(folder)
    assert ds is not None and ds.origin.startswith("this model's own discriminators")
    pictures = example_pictures("red_blue", tmp_path / "examples")
    red = image_to_tensor(Image.open(pictures["A"][0]).convert("RGB"))
    blue = model.translate_tensor(red, "AtoB", "fp32")
    assert float(blue[0, 2].mean() - red[0, 2].mean()) > 0.05 and float(blue[0, 0].mean() - red[0, 0].mean()) < -0.05
    again = model.translate_tensor(blue, "BtoA", "fp32")
    assert float((again - red).abs().mean()) < 0.25
    before = folder.joinpath("model.safetensors").stat().st_mtime_ns
    assert make_toy_model("red_blue", folder) == folder and folder.joinpath("model.safetensors").stat().st_mtime_ns == before


def test_example_pictures_are_drawn_once(tmp_path):
    first = example_pictures("stripes_dots", tmp_path, n=2)
    assert [p.name for p in first["A"] + first["B"]] == ["A_0.png", "A_1.png", "B_0.png", "B_1.png"]
    stamp = first["A"][0].stat().st_mtime_ns
    assert example_pictures("stripes_dots", tmp_path, n=2) == first and first["A"][0].stat().st_mtime_ns == stamp
