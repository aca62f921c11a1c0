"""The README's Python examples run as written (the zoo comes from the loopback upstream with tiny
weights; a training example's step count is cut down). The gradio_client example is what
tests/test_app.py and tests/test_train_app.py do against a running app."""

import re

import numpy as np
from PIL import Image

from test_cli import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)
CORE_BLOCKS = [b for b in BLOCKS if "gradio_client" not in b]


def test_the_readme_has_its_examples():
    assert len(BLOCKS) == len(CORE_BLOCKS) + 1 and len(CORE_BLOCKS) >= 4


def test_core_examples_run_in_order(zoo_upstream, tmp_path, monkeypatch, photo):
    monkeypatch.chdir(tmp_path)
    photo.save("horse.jpg")
    rng = np.random.default_rng(0)
    for domain in ("a", "b"):
        (tmp_path / "photos" / domain).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(f"photos/{domain}/{i}.png")
    for block in CORE_BLOCKS:
        code = block.replace("TrainConfig(steps=500,", "TrainConfig(steps=2, crop_size=32,")
        namespace = {}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 — our own documentation
    assert (tmp_path / "runs" / "x" / "model.safetensors").is_file()

