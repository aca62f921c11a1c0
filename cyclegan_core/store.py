"""The local model store (`weights/`): the models and training runs kept on this machine.

Each entry is a folder named after the model: official zoo models cached there, models placed
there by hand, and runs trained in the app (`runs.RunFolder`). Names, not paths, identify them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import CycleGANError, RunError
from .model_config import ModelConfig
from .model_folder import read_config
from .runs import RunFolder
from .zoo import ZOO

DEFAULT_RUN_NAME = "my-model"


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
