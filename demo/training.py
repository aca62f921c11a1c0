"""What the Train tab needs besides widgets: one run at a time, readable summaries of the data, the
losses, the time left and whether the run is working. No gradio here; run folders are
`cyclegan_core.runs`', the checks `cyclegan_core.doctor`'s."""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

from cyclegan_core import CycleGANError, DataError
from cyclegan_core.teaching.doctor import diagnose, summary
from cyclegan_core.training.data import Domain, load_domain

DOWNLOADS = Path(tempfile.gettempdir()) / "cyclegan-studio-downloads"
STOPS = Path(tempfile.gettempdir()) / "cyclegan-studio-stops"
KEEP_DOWNLOADS_SECONDS = 600  # Gradio copies a returned file into its own cache at once
DEFAULT_MAX_UPLOAD_BYTES = 1 << 30  # per run, both domains together
DEFAULT_MAX_IMAGES = 1000  # per domain


def max_upload_bytes() -> int:
    """`CYCLEGAN_APP_MAX_UPLOAD_BYTES`: what one run's uploads may weigh together (default 1 GiB)."""
    value = os.environ.get("CYCLEGAN_APP_MAX_UPLOAD_BYTES")
    return int(value) if value else DEFAULT_MAX_UPLOAD_BYTES


def max_images() -> int:
    """`CYCLEGAN_APP_MAX_IMAGES`: images used per domain in the app (default 1000; the rest are skipped)."""
    value = os.environ.get("CYCLEGAN_APP_MAX_IMAGES")
    return int(value) if value else DEFAULT_MAX_IMAGES


def upload_bytes(*domains: list[str]) -> int:
    """The uploads' total size, refused above `max_upload_bytes()` before anything is copied."""
    total = sum(Path(f).stat().st_size for files in domains for f in files)
    if total > max_upload_bytes():
        raise DataError(f"your files weigh {total / 2**20:.0f} MB together; a run here takes at most "
                        f"{max_upload_bytes() / 2**20:.0f} MB of uploads (fewer or smaller images, please)")
    return total


class StopFlag:
    """A Stop request that reaches the run wherever its steps are taken: in this process, or in the
    process a ZeroGPU Space forks for each GPU call (`zerogpu.train_in_loans`), which holds a copy of
    this flag (it is pickled there): `set()` also leaves a file, and `is_set()` looks for it. As
    `threading.Event` for `training.loop.train`; `discard()` removes the file."""

    def __init__(self, folder: Path = STOPS):
        self.path = Path(folder) / uuid.uuid4().hex
        self._set = False

    def set(self) -> None:
        self._set = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def is_set(self) -> bool:
        return self._set or self.path.exists()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class TrainingSlot:
    """The CPU trains one run at a time. `hold()` claims the slot (or says that it is taken) and
    hands out the stop flag (`StopFlag`) that `request_stop()` sets, for the run's own visitor only.
    The run it holds (`active`) is kept whenever room is made on disk (`ModelStore.make_room(keep=…)`)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.active: Path | None = None
        self.owner: str | None = None
        self.name: str | None = None  # the run as its visitor calls it (its folder may say more)
        self.stop = StopFlag()

    @contextlib.contextmanager
    def hold(self, run_dir: Path, owner: str | None = None, name: str | None = None) -> Iterator[StopFlag]:
        if not self._lock.acquire(blocking=False):
            raise CycleGANError("a training run is already using this machine's CPU; wait for it to finish "
                                "(or stop it, if it is yours)")
        self.active, self.owner, self.name, self.stop = run_dir, owner, name or Path(run_dir).name, StopFlag()
        try:
            yield self.stop
        finally:
            self.stop.discard()
            self.active = self.owner = self.name = None
            self._lock.release()

    def holding(self) -> list[Path]:
        """The run in progress, if any (what making room on disk must keep)."""
        active = self.active
        return [active] if active is not None else []

    def stoppable_by(self, owner: str | None = None, shared: bool = False) -> bool:
        """Whether a run is active that `owner` may stop (theirs, or any run if `shared`)."""
        return self.active is not None and (shared or self.owner is None or self.owner == owner)

    def request_stop(self, owner: str | None = None, shared: bool = False) -> str:
        """Stop the active run after its current step if it is `owner`'s (or any run, if `shared`)."""
        name, stop = self.name, self.stop
        if not self.stoppable_by(owner, shared) or name is None:
            return "No training run of yours is active."
        stop.set()
        return f"Stopping {name} after the current step…"


def inspect_domain(files: list[str] | None, label: str) -> tuple[Domain | None, str]:
    """Count usable images in uploaded files before training; a line for the page."""
    if not files:
        return None, f"**{label}**: no files yet."
    try:
        domain = load_domain(list(files), label, load_size=64, min_images=0)
    except CycleGANError as e:
        return None, f"**{label}**: {e}"
    text = f"**{label}**: {len(domain.images)} usable image(s)"
    if domain.skipped:
        shown = "; ".join(f"{Path(name).name} ({reason})" for name, reason in domain.skipped[:8])
        more = f"; … {len(domain.skipped) - 8} more" if len(domain.skipped) > 8 else ""
        text += f", skipped {len(domain.skipped)}: {shown}{more}"
    return domain, text


def loss_rows(records: list[dict], terms: tuple[str, ...], max_points: int = 400) -> dict[str, list]:
    """Long-format columns (step, term, loss) for a line plot, thinned to about `max_points` steps."""
    stride = max(1, len(records) // max_points)
    picked = records[::stride] + ([records[-1]] if records and (len(records) - 1) % stride else [])
    rows = {"step": [], "term": [], "loss": []}
    for record in picked:
        for term in terms:
            if term in record:
                rows["step"].append(record["step"])
                rows["term"].append(term)
                rows["loss"].append(record[term])
    return rows


def doctor_text(records: list[dict], previews: list[dict], gan_mode: str = "lsgan") -> str:
    """The "Is it working?" panel: the doctor's checks on a run's losses and latest previews."""
    return summary(diagnose(records, previews, gan_mode=gan_mode), len(records))


class Speedometer:
    """Seconds per step as measured in this session, over the latest `window` steps, on `clock`.

    The first step a session sees is not timed (its time includes loading the data and the model,
    and a resumed run's restore), nor is the interval after it (the first preview is made right
    after the first step); a run's earlier sessions count for nothing. Until two steps after that
    are timed, the speed is unknown (None)."""

    def __init__(self, clock=time.monotonic, window: int = 50):
        self.clock, self.seen = clock, 0
        self.marks: collections.deque[tuple[int, float]] = collections.deque(maxlen=window + 1)

    def step_done(self, step: int) -> float | None:
        """Note that `step` has just finished; the seconds per step so far (None: not known yet)."""
        self.seen += 1
        if self.seen >= 2:
            self.marks.append((step, self.clock()))
        return self.seconds_per_step()

    def seconds_per_step(self) -> float | None:
        if len(self.marks) < 2 or self.marks[-1][0] <= self.marks[0][0]:
            return None
        (first_step, first_time), (last_step, last_time) = self.marks[0], self.marks[-1]
        return (last_time - first_time) / (last_step - first_step)


def eta_text(seconds_per_step: float, remaining: int) -> str:
    seconds = int(seconds_per_step * remaining)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def download_path(name: str, folder: Path | None = None) -> Path:
    """A fresh path for a zip to hand out; older ones in the same place are removed."""
    folder = folder or DOWNLOADS
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.stat().st_mtime < time.time() - KEEP_DOWNLOADS_SECONDS:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=folder)) / f"{name}.zip"
