"""The Learn tab's toy models: tiny CycleGANs trained once on the synthetic tasks
(`synthetic.py`) and kept in the local store, so the cycle, hidden-information and discriminator
views work offline with nothing downloaded and no weights shipped in the repository.

    folder = make_toy_model("red_blue", store.root / ".toy" / "red_blue")   # ≤ 40 s on 2 cores

A toy model is an ordinary model folder (config.json + model.safetensors) with the
discriminators of its own training (`discriminators.safetensors`), trained with `live.LiveRun`'s
networks at 48² (the paper's λs: 10 and 0.5). The folder appears whole or not at all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from PIL import Image

from cyclegan_core.model.folder import is_model_folder, save_model
from cyclegan_core.teaching.live import LivePreview, LiveRun
from cyclegan_core.teaching.patch_maps import Discriminators, save_discriminators
from cyclegan_core.teaching.synthetic import SYNTHETIC_TASKS, examples

TOY_TASKS = ("red_blue", "stripes_dots")
SIZE = 48


def make_toy_model(task: str, folder: Path | str, steps: int = 400, seconds: float = 40.0, seed: int = 0,
                 progress: Callable[[LivePreview], None] | None = None) -> Path:
    """Train `task` for `steps` steps or `seconds`, whichever comes first, and write the model folder
    `folder` (atomically: built beside it, then renamed). An existing model folder is kept as it is."""
    folder = Path(folder)
    if is_model_folder(folder):
        return folder
    run = LiveRun(task, lambda_cycle=10.0, lambda_identity=0.5, seed=seed, size=SIZE)
    for event in run.run(steps=steps, seconds=seconds, preview_every=50):
        if progress is not None and isinstance(event, LivePreview):
            progress(event)
    t = run.trainer
    t.model.config = t.model.config.replace(
        provenance=f"toy: trained by CycleGAN Studio on its synthetic task {SYNTHETIC_TASKS[task].title!r} "
                   f"({t.steps_done} steps at {SIZE}², seed {seed})", license="MIT (made by this project)")
    building = folder.with_name(f".{folder.name}.{os.getpid()}.building")
    shutil.rmtree(building, ignore_errors=True)
    save_model(t.model, building)
    save_discriminators(Discriminators(t.D_A, t.D_B, f"this model's own discriminators, from its training "
                                                     f"(step {t.steps_done})", t.config.ndf, t.config.n_layers_D),
                        building)
    try:
        os.replace(building, folder)
    except OSError:  # another process made it meanwhile: keep theirs
        shutil.rmtree(building, ignore_errors=True)
    return folder


def example_pictures(task: str, folder: Path | str, n: int = 3, size: int = 64, seed: int = 100) -> dict[str, list[Path]]:
    """`n` example pictures of each domain of `task` as PNG files in `folder` (made once; drawn on
    the fly, so nothing is downloaded): {"A": [A_0.png, …], "B": […]}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, list[Path]] = {}
    for domain in ("A", "B"):
        paths[domain] = [folder / f"{domain}_{i}.png" for i in range(n)]
        if not all(p.is_file() for p in paths[domain]):
            for path, image in zip(paths[domain], examples(task, domain, n, size, seed)):
                _save(image, path)
    return paths


def _save(image: Image.Image, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    image.save(temporary, format="PNG")
    os.replace(temporary, path)
