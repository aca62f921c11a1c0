"""Training run folders: a run folder *is* a model folder, plus what resuming needs.

    config.json, model.safetensors   the model as of the last save (loadable at once)
    training_state.safetensors       networks, optimisers, pools, RNG, step (`training_state.py`)
    train.json                       the record: TrainConfig and both data sources
    log.json                         every loss at every step
    previews/step_000010.png         real → translated → back, both directions
    data/A, data/B                   copies of uploaded data (runs made in the app)

Only this module names those files; the CLI and the app ask a `RunFolder`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch
from PIL import Image

from cyclegan_core.atomic import atomic_path, atomic_write_text
from cyclegan_core.errors import CycleGANError, RunError
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.model.folder import CONFIG_NAME, WEIGHTS_NAME, is_model_folder, save_model
from cyclegan_core.nn.networks import NLayerDiscriminator, ResnetGenerator
from cyclegan_core.training.config import TrainConfig
from cyclegan_core.training.data import Source
from cyclegan_core.training.state import load_training_state, read_metadata, save_training_state

if TYPE_CHECKING:
    from cyclegan_core.training.trainer import CycleGANTrainer

STATE_NAME = "training_state.safetensors"
RECORD_NAME = "train.json"
LOG_NAME = "log.json"
PREVIEWS_DIR = "previews"
DATA_DIR = "data"
# A preview PNG: real → translated → back (`losses.PREVIEW_NAMES`), one row per direction.
PREVIEW_GRID = (("real_A", "fake_B", "rec_A"), ("real_B", "fake_A", "rec_B"))
PREVIEW_PADDING = 2
UNKNOWN_OWNER = "?"  # matches no visitor
# A visitor's run whose name is another's folder already lives in "<name>+<visitor id>" (`store.new_run`):
# names live per visitor, folders in one store. Names are made of letters, digits and `_.-`, never "+".
OWNER_MARK = "+"


def shown_name(folder: str, owner: str | None) -> str:
    """The name a visitor gave the run in `folder` (its folder's name, less the `+<owner>` it may carry)."""
    suffix = f"{OWNER_MARK}{owner}"
    if owner and folder.endswith(suffix) and len(folder) > len(suffix):
        return folder[:-len(suffix)]
    return folder


def source_name(source: str) -> str:
    """A source as a provenance names it: a local folder by its name (not its path on this machine; a
    visitor's run by the name its visitor gave it), anything else as it is."""
    folder = Path(source)
    return shown_name(folder.name, RunFolder(folder).owner()) if folder.is_dir() else source


@dataclass(frozen=True)
class RunRecord:
    """What a run was started with: its settings, the two domains' data sources and, for runs made
    by a visitor of the app, the visitor's id (None: the machine's owner, e.g. through the CLI)."""

    config: TrainConfig
    data_a: Source
    data_b: Source
    owner: str | None = None


class RunFolder:
    def __init__(self, path: Path | str, name: str | None = None):
        self.path = Path(path)
        self._name = name

    @property
    def name(self) -> str:
        """What the run is called where it is shown: `name` if given (a visitor's name for it), else its folder's."""
        return self._name or self.path.name

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # --- what the folder holds ---

    def is_model(self) -> bool:
        return is_model_folder(self.path)

    def is_resumable(self) -> bool:
        """A model, its training state and its record: finished, stopped or interrupted runs."""
        return self.is_model() and (self.path / STATE_NAME).is_file() and (self.path / RECORD_NAME).is_file()

    def has_saved_state(self) -> bool:
        """Whether a training state (the generators, the discriminators, the optimisers) is saved here."""
        return (self.path / STATE_NAME).is_file()

    def steps_done(self) -> int:
        """Steps in the saved training state (0 if there is none)."""
        state = self.path / STATE_NAME
        return int(read_metadata(state)["step"]) if state.is_file() else 0

    def last_saved(self) -> float:
        """When the training state was last written (the folder's time without one), as a timestamp."""
        state = self.path / STATE_NAME
        return (state if state.is_file() else self.path).stat().st_mtime

    def require_resumable(self) -> None:
        if not self.is_resumable():
            raise RunError(f"{self.path} holds no resumable run ({STATE_NAME}, {RECORD_NAME} and the model "
                           f"folder files are needed)")

    def require_new(self) -> None:
        """Refuse a folder that already holds anything (a fresh run is never written over files)."""
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise RunError(f"{self.path} is not empty; choose a new run folder or resume it")

    def refuse_overwrite(self) -> None:
        """Refuse to start a fresh run where a model or a run already is."""
        if (self.path / STATE_NAME).exists() or self.is_model():
            raise RunError(f"{self.path} already holds a model or a run; resume it, or train into a new folder")

    # --- the record (train.json) ---

    def write_record(self, config: TrainConfig, data_a: Source, data_b: Source, owner: str | None = None) -> None:
        record = {"config": config.to_dict(), "data_a": _absolute(data_a), "data_b": _absolute(data_b),
                  "owner": owner}
        atomic_write_text(self.path / RECORD_NAME, json.dumps(record, indent=2) + "\n")

    def read_record(self) -> RunRecord:
        path = self.path / RECORD_NAME
        if not path.is_file():
            raise RunError(f"{self.path} is not a training run folder (no {RECORD_NAME})")
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            return RunRecord(TrainConfig.from_dict(stored["config"]), stored["data_a"], stored["data_b"],
                             stored.get("owner"))
        except (CycleGANError, ValueError, KeyError, TypeError) as e:
            raise RunError(f"{path} is damaged ({e})") from None

    def resume_record(self, steps: int | None = None, epochs: int | None = None) -> RunRecord:
        """The record to continue with, to a new total of `steps` (or `epochs`) if given. Refuses
        folders that cannot be resumed and runs that have already done that many steps."""
        self.require_resumable()
        record = self.read_record()
        changes = {k: v for k, v in (("steps", steps), ("epochs", epochs)) if v is not None}
        config = record.config.replace(**changes)
        done = self.steps_done()
        if config.epochs is None and done >= config.steps:
            raise RunError(f"{self.name} has done {done} of its {config.steps} steps; ask for more steps to "
                           f"train longer")
        return RunRecord(config, record.data_a, record.data_b, record.owner)

    def copy_to(self, target: "RunFolder", owner: str | None) -> RunRecord:
        """Make the new, empty folder `target` a run of `owner`'s that continues this one: the same
        settings and data, a copy of this run's model, training state, log and previews. This folder is
        only read. The record is written first, so a copy cut short is `owner`'s, never anyone else's."""
        self.require_resumable()
        target.require_new()
        record = self.read_record()
        target.path.mkdir(parents=True, exist_ok=True)
        target.write_record(record.config, record.data_a, record.data_b, owner)
        previews = self.path / PREVIEWS_DIR
        for preview in sorted(previews.glob("step_*.png")) if previews.is_dir() else []:
            _copy(preview, target.path / PREVIEWS_DIR / preview.name)
        for name in (LOG_NAME, STATE_NAME, WEIGHTS_NAME, CONFIG_NAME):  # the model last: whole, or not a model yet
            if (self.path / name).is_file():
                _copy(self.path / name, target.path / name)
        return RunRecord(record.config, record.data_a, record.data_b, owner)

    # --- saving and restoring a trainer ---

    def save(self, trainer: "CycleGANTrainer", log: list[dict]) -> Path:
        """Model folder, log, then the training state; each file atomically. A crash between two of
        them leaves a loadable model and a state whose step the log covers (`restore` drops log
        records past the state's step)."""
        save_model(trainer.model, self.path)
        atomic_write_text(self.path / LOG_NAME, json.dumps({"records": log}) + "\n")
        save_training_state(trainer, self.path / STATE_NAME)
        return self.path

    def restore(self, trainer: "CycleGANTrainer") -> list[dict]:
        """Load the saved training state into `trainer`; returns the log up to its step. Temporary
        files a killed process left behind (`atomic.atomic_path`) are removed."""
        for leftover in self.path.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        load_training_state(trainer, self.path / STATE_NAME)
        return [r for r in self.read_log() if r["step"] <= trainer.steps_done]

    def read_log(self) -> list[dict]:
        """Every step's losses and learning rate, oldest first ([] before the first save)."""
        path = self.path / LOG_NAME
        if not path.is_file():
            return []
        try:
            return list(json.loads(path.read_text(encoding="utf-8"))["records"])
        except (ValueError, KeyError, TypeError) as e:
            raise RunError(f"{path} is damaged ({type(e).__name__}: {e})") from None

    def owner(self) -> str | None:
        """Who made the run (`RunRecord.owner`); an unreadable record is owned by nobody who could ask."""
        if not (self.path / RECORD_NAME).is_file():
            return None
        try:
            return self.read_record().owner
        except RunError:
            return UNKNOWN_OWNER

    def preview_path(self, step: int) -> Path:
        return self.path / PREVIEWS_DIR / f"step_{step:06d}.png"

    def read_previews(self, last: int = 3) -> list[dict[str, Image.Image]]:
        """The latest `last` previews, oldest first, each as its six images by name (`PREVIEW_GRID`);
        unreadable ones are left out."""
        steps = {int(p.stem[5:]): p for p in (self.path / PREVIEWS_DIR).glob("step_*.png") if p.stem[5:].isdigit()}
        paths = [steps[step] for step in sorted(steps)]
        previews = []
        for path in paths[-last:] if last > 0 else []:
            try:
                with Image.open(path) as grid:
                    previews.append(split_preview(grid.convert("RGB")))
            except (OSError, ValueError):
                continue
        return previews

    # --- data kept with the run, and removal ---

    def keep_data(self, domain: str, files: Sequence[str | os.PathLike]) -> Path:
        """Copy a domain's files into the run (`data/A`, `data/B`), so it can resume after a restart."""
        folder = self.path / DATA_DIR / domain
        folder.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            shutil.copy2(f, folder / f"{i:05d}-{Path(f).name}")
        return folder

    def delete(self) -> None:
        """Remove the run with everything in it: model, state, log, previews and kept data."""
        shutil.rmtree(self.path, ignore_errors=True)

    def delete_if_untrained(self) -> bool:
        """After a failed start: remove the folder (copied data and all) if no model was saved yet."""
        if self.is_model():
            return False
        self.delete()
        return True


def expected_run_bytes(model: ModelConfig, config: TrainConfig) -> int:
    """Disk a run of this architecture takes (uploads not included): the model folder's two generators
    and a training state of all four networks with both Adam moments (3 copies), in float32."""
    with torch.device("meta"):
        generator = sum(p.numel() for p in ResnetGenerator(model.ngf, model.n_blocks, model.norm).parameters())
        discriminator = sum(p.numel() for p in NLayerDiscriminator(config.ndf, config.n_layers_D).parameters())
    return 4 * (2 * generator + 3 * (2 * generator + 2 * discriminator)) + (1 << 20)  # + previews and logs


def split_preview(grid: Image.Image) -> dict[str, Image.Image]:
    """A preview grid's six images by name: `train.preview` saves them as `make_grid(nrow=3,
    padding=2)` does, equal cells 2 px apart with a 2 px border."""
    rows, columns = len(PREVIEW_GRID), len(PREVIEW_GRID[0])
    width, height = (grid.width - PREVIEW_PADDING) // columns, (grid.height - PREVIEW_PADDING) // rows
    if width <= PREVIEW_PADDING or height <= PREVIEW_PADDING:
        raise ValueError(f"a {grid.width}×{grid.height} image is not a preview grid")
    return {name: grid.crop((PREVIEW_PADDING + c * width, PREVIEW_PADDING + r * height,
                             (c + 1) * width, (r + 1) * height))
            for r, row in enumerate(PREVIEW_GRID) for c, name in enumerate(row)}


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def _absolute(source: Source):
    if isinstance(source, (str, os.PathLike)):
        return str(Path(source).resolve())
    return [str(Path(p).resolve()) for p in source]
