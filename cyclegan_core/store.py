"""The local model store (`weights/`): the models and training runs kept on this machine.

Each entry is a folder named after the model: official zoo models cached there, models placed
there by hand, and runs trained in the app (`runs.RunFolder`). Names, not paths, identify them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

from .errors import CycleGANError, RunError
from .model_config import ModelConfig
from .model_folder import read_config
from .runs import RunFolder
from .zoo import ZOO

DEFAULT_RUN_NAME = "my-model"
DEFAULT_RUNS_MAX_BYTES = 4 * 2**30  # disk for visitors' runs (models, states, previews, uploads)


def runs_max_bytes() -> int:
    """`CYCLEGAN_RUNS_MAX_BYTES`: the disk that visitors' runs may take together (default 4 GiB)."""
    value = os.environ.get("CYCLEGAN_RUNS_MAX_BYTES")
    return int(value) if value else DEFAULT_RUNS_MAX_BYTES


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file() and not f.is_symlink())


def weights_dir() -> Path:
    """The store's folder: `CYCLEGAN_WEIGHTS_DIR`, or `weights/` beside the package."""
    env = os.environ.get("CYCLEGAN_WEIGHTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class StoredModel:
    """One model folder in the store; `resumable` if it is a training run that can continue; `owner`
    the id of the app visitor who made it (None: placed by the machine's owner or made by the CLI)."""

    name: str
    path: Path
    config: ModelConfig
    resumable: bool
    owner: str | None = None


class ModelStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else weights_dir()

    def models(self, include_zoo: bool = False) -> list[StoredModel]:
        """Every usable model folder, sorted by name; cached zoo models only if `include_zoo`.
        Folders whose config cannot be read are left out (loading one says what is wrong)."""
        found = []
        for path in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            run = RunFolder(path)
            if (path.name in ZOO and not include_zoo) or path.name.startswith(".") or not run.is_model():
                continue
            try:
                config = read_config(path)
            except (CycleGANError, OSError):
                continue
            found.append(StoredModel(path.name, path, config, run.is_resumable(), run.owner()))
        return found

    def runs(self) -> list[StoredModel]:
        """The models that are resumable training runs (finished, stopped or interrupted)."""
        return [m for m in self.models() if m.resumable]

    def visitor_runs(self) -> list[tuple[StoredModel, int]]:
        """Models made by visitors of the app (they have an owner), with the bytes each takes."""
        return [(m, folder_bytes(m.path)) for m in self.models() if m.owner is not None]

    def make_room(self, needed: int, budget: int, keep: Collection[Path] = ()) -> list[str]:
        """Evict visitors' runs until `needed` more bytes fit in `budget`: finished runs first, then
        stopped ones, oldest first; never those in `keep` (a run in progress), never the owner's
        models or the zoo. Returns the names evicted; RunError if it cannot fit (nothing evicted)."""
        runs = self.visitor_runs()
        used = sum(size for _, size in runs)
        kept = {Path(k) for k in keep}
        candidates = sorted((m for m, _ in runs if m.path not in kept), key=_eviction_order)
        sizes = {m.path: size for m, size in runs}
        chosen = []
        for model in candidates:
            if used + needed <= budget:
                break
            chosen.append(model)
            used -= sizes[model.path]
        if used + needed > budget:
            raise RunError(f"the runs on this machine may take {budget / 2**20:.0f} MB together and a new "
                           f"run needs about {needed / 2**20:.0f} MB, more than can be made free now; try fewer "
                           f"or smaller images, or a smaller model")
        for model in chosen:
            RunFolder(model.path).delete()
        return [m.name for m in chosen]

    def path(self, name: str) -> Path:
        """The folder of the entry called `name`; names with path separators or dots are refused."""
        if not name or name != Path(name).name or name.startswith("."):
            raise RunError(f"{name!r} is not a model name in the store")
        return self.root / name

    def run(self, name: str) -> RunFolder:
        """The run called `name` (which may not exist yet: `RunFolder` methods say so)."""
        return RunFolder(self.path(name))

    def new_run(self, name: str) -> RunFolder:
        """A fresh, empty run folder for `name`, made safe (letters, digits, `_.-`) and unique (-2, -3 …)."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.")[:60] or DEFAULT_RUN_NAME
        self.root.mkdir(parents=True, exist_ok=True)
        candidate, n = slug, 2
        while True:
            if candidate not in ZOO:
                try:
                    (self.root / candidate).mkdir()
                    return RunFolder(self.root / candidate)
                except FileExistsError:
                    pass
            candidate, n = f"{slug}-{n}", n + 1

    def delete(self, name: str) -> None:
        """Remove a model or run (with its data). Cached zoo models are refused."""
        if name in ZOO:
            raise RunError(f"{name} is an official zoo model, not one of yours")
        path = self.path(name)
        if not path.is_dir():
            raise RunError(f"there is no model called {name!r}")
        RunFolder(path).delete()


def _eviction_order(model: StoredModel) -> tuple[int, float]:
    """Finished runs before stopped ones, then the least recently saved first."""
    run = RunFolder(model.path)
    try:
        finished = run.steps_done() >= run.read_record().config.steps
    except CycleGANError:
        finished = True  # a damaged run goes first
    return (0 if finished else 1, run.last_saved())
