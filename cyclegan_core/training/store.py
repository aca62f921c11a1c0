"""The local model store (`weights/`): the models and training runs kept on this machine.

Each entry is a folder named after the model: official zoo models cached there, models placed
there by hand, and runs trained in the app (`runs.RunFolder`). Names, not paths, identify them:
`models()` names each by its folder (the CLI, the Python API). A visitor of the app sees
`visible_models()`: the models they may use, each by the name its visitor gave it, unique among
them. Names live per visitor: a visitor's run whose name is already another visitor's folder lives
in `<name>+<visitor id>` (`new_run`), and is still called `<name>` by its visitor.

Besides runs, each visitor has a space of their own in `.visitors/<visitor id>/` (say, discriminators
they trained for a model that is not theirs); visitors' runs and spaces share one disk budget
(`make_room`).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Collection

from cyclegan_core.errors import CycleGANError, RunError
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.model.folder import read_config
from cyclegan_core.paths import weights_dir
from cyclegan_core.sources.zoo import ZOO
from cyclegan_core.training.runs import OWNER_MARK, RunFolder, shown_name

DEFAULT_RUN_NAME = "my-model"
DEFAULT_RUNS_MAX_BYTES = 4 * 2**30  # disk for visitors' runs (models, states, previews, uploads) and spaces
VISITORS_DIR = ".visitors"  # .visitors/<visitor id>/<kind>/<item>: what each visitor keeps besides runs
_OWNER = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a visitor id as folder names may carry it

def runs_max_bytes() -> int:
    """`CYCLEGAN_RUNS_MAX_BYTES`: the disk that visitors' runs may take together (default 4 GiB)."""
    value = os.environ.get("CYCLEGAN_RUNS_MAX_BYTES")
    return int(value) if value else DEFAULT_RUNS_MAX_BYTES


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file() and not f.is_symlink())


@dataclass(frozen=True)
class StoredModel:
    """One model folder in the store; `resumable` if it is a training run that can continue; `owner`
    the id of the app visitor who made it (None: placed by the machine's owner or made by the CLI)."""

    name: str
    path: Path
    config: ModelConfig
    resumable: bool
    owner: str | None = None

    @property
    def folder(self) -> str:
        """The folder's name in the store (`name` too, except in a visitor's view: `visible_models`)."""
        return self.path.name


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

    def visible_models(self, visible: Callable[[StoredModel], bool] | None = None) -> list[StoredModel]:
        """The models `visible` allows (default: all), sorted by name, each named as a visitor knows it:
        a run by the name its visitor gave it (`runs.shown_name`), the others by their folder. Names are
        unique here: where two would clash (runs made before `CYCLEGAN_SHARED_RUNS` was switched on, say),
        the owner's model keeps its name and the other run is called by its folder."""
        chosen = [m for m in self.models() if visible is None or visible(m)]
        names, shown = set(), []
        for model in sorted(chosen, key=_naming_order):
            name = shown_name(model.folder, model.owner)
            if name in names:
                name = model.folder
            if name in names:  # a folder named like another's run: left out rather than confused
                continue
            names.add(name)
            shown.append(replace(model, name=name))
        return sorted(shown, key=lambda m: m.name)

    def runs(self) -> list[StoredModel]:
        """The models that are resumable training runs (finished, stopped or interrupted)."""
        return [m for m in self.models() if m.resumable]

    def visitor_runs(self) -> list[tuple[StoredModel, int]]:
        """Models made by visitors of the app (they have an owner), with the bytes each takes."""
        return [(m, folder_bytes(m.path)) for m in self.models() if m.owner is not None]

    def visitor_space(self, owner: str) -> Path:
        """The folder of what visitor `owner` keeps besides runs (it may not exist yet)."""
        if not isinstance(owner, str) or not _OWNER.fullmatch(owner):
            raise RunError("a visitor's space needs a visitor id")
        return self.root / VISITORS_DIR / owner

    def visitor_kept(self) -> list[tuple[Path, int]]:
        """What visitors keep in their spaces, item by item (`.visitors/<id>/<kind>/<item>`), with the
        bytes each takes."""
        base = self.root / VISITORS_DIR
        items = sorted(p for p in base.glob("*/*/*") if not p.is_symlink()) if base.is_dir() else []
        return [(item, folder_bytes(item) if item.is_dir() else item.stat().st_size) for item in items]

    def visitor_bytes(self) -> int:
        """The disk visitors' runs and spaces take together (what `runs_max_bytes()` caps)."""
        return sum(size for _, size in self.visitor_runs()) + sum(size for _, size in self.visitor_kept())

    def make_room(self, needed: int, budget: int, keep: Collection[Path] = (), what: str = "a new run",
                  advice: str = "try fewer or smaller images, or a smaller model") -> list[str]:
        """Evict visitors' runs and kept items until `needed` more bytes fit in `budget`: what visitors
        kept in their spaces and finished runs first, then stopped runs, oldest first; never those in
        `keep` (a run in progress), never the owner's models or the zoo. Returns the names
        evicted (a run's folder, or an item's path in the store); RunError if it cannot fit (nothing
        evicted), saying `what` needed the room and `advice`."""
        runs, items = self.visitor_runs(), self.visitor_kept()
        used = sum(size for _, size in runs) + sum(size for _, size in items)
        kept = {Path(k).resolve() for k in keep}
        candidates = [(_eviction_order(m), m.path, m.name, size) for m, size in runs if m.path.resolve() not in kept]
        candidates += [((0, _modified(path)), path, path.relative_to(self.root).as_posix(), size)
                       for path, size in items if path.resolve() not in kept]
        chosen = []
        for _, path, name, size in sorted(candidates, key=lambda c: c[0]):
            if used + needed <= budget:
                break
            chosen.append((path, name))
            used -= size
        if used + needed > budget:
            raise RunError(f"the runs on this machine may take {budget / 2**20:.0f} MB together and {what} "
                           f"needs about {needed / 2**20:.0f} MB, more than can be made free now; {advice}")
        for path, _ in chosen:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return [name for _, name in chosen]

    def path(self, name: str) -> Path:
        """The folder of the entry called `name`; names with path separators or dots are refused."""
        if not name or name != Path(name).name or name.startswith("."):
            raise RunError(f"{name!r} is not a model name in the store")
        return self.root / name

    def run(self, name: str) -> RunFolder:
        """The run called `name` (which may not exist yet: `RunFolder` methods say so)."""
        return RunFolder(self.path(name))

    def new_run(self, name: str, owner: str | None = None,
                visible: Callable[[StoredModel], bool] | None = None) -> RunFolder:
        """A fresh, empty run folder for `name`, made safe (letters, digits, `_.-`), never a zoo name and
        unique (-2, -3 …). Without `owner` (the CLI, the machine's owner): unique among the store's
        folders. A visitor's run (`owner`: their id) is unique among the names that visitor sees
        (`visible_models(visible)`; default: the owner's models and the visitor's own runs), whatever
        other visitors called theirs: it lives in `<name>+<owner>` where another's run has the folder
        `<name>`, and the RunFolder returned is named `<name>` either way."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.")[:60] or DEFAULT_RUN_NAME
        if owner is not None and not _OWNER.fullmatch(str(owner)):
            raise RunError(f"{str(owner)[:80]!r} is not a visitor id")
        taken = set() if owner is None else {m.name for m in self.visible_models(
            visible or (lambda m: m.owner is None or m.owner == owner))}
        self.root.mkdir(parents=True, exist_ok=True)
        candidate, n = slug, 2
        while True:
            if candidate not in ZOO and candidate not in taken:
                for folder in [candidate] if owner is None else [candidate, f"{candidate}{OWNER_MARK}{owner}"]:
                    try:
                        (self.root / folder).mkdir()
                        return RunFolder(self.root / folder, candidate)
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


def _naming_order(model: StoredModel) -> tuple[bool, bool, str]:
    """Who keeps a name two models would share: the owner's models, then runs in a folder of that name."""
    return model.owner is not None, shown_name(model.folder, model.owner) != model.folder, model.folder


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _eviction_order(model: StoredModel) -> tuple[int, float]:
    """Finished runs before stopped ones, then the least recently saved first."""
    run = RunFolder(model.path)
    try:
        finished = run.steps_done() >= run.read_record().config.steps
    except CycleGANError:
        finished = True  # a damaged run goes first
    return (0 if finished else 1, run.last_saved())
