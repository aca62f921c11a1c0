"""What the Train tab needs besides widgets: one run at a time, run folders in `weights/`,
readable summaries of the data and the losses. No gradio here."""

from __future__ import annotations

import contextlib
import re
import threading
import zipfile
from pathlib import Path
from typing import Iterator

from cyclegan_core import CycleGANError, weights_dir
from cyclegan_core.config import CONFIG_NAME, WEIGHTS_NAME
from cyclegan_core.data import Domain, load_domain


class TrainingSlot:
    """The CPU trains one run at a time. `hold()` claims the slot (or says who holds it) and
    hands out the stop flag that `request_stop()` sets."""

    def __init__(self):
        self._lock = threading.Lock()
        self.active: Path | None = None
        self.stop = threading.Event()

    @contextlib.contextmanager
    def hold(self, run_dir: Path) -> Iterator[threading.Event]:
        if not self._lock.acquire(blocking=False):
            raise CycleGANError(f"a training run ({self.active.name}) is already using this machine's CPU; "
                                f"wait for it to finish or stop it first")
        self.active, self.stop = run_dir, threading.Event()
        try:
            yield self.stop
        finally:
            self.active = None
            self._lock.release()

    def request_stop(self) -> str:
        if self.active is None:
            return "No training run is active."
        self.stop.set()
        return f"Stopping {self.active.name} after the current step…"


def new_run_dir(name: str) -> Path:
    """A fresh folder in weights/ for a run called `name` (made safe; -2, -3 … if taken)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.")[:60] or "my-model"
    base = weights_dir()
    candidate, n = base / slug, 2
    while candidate.exists():
        candidate, n = base / f"{slug}-{n}", n + 1
    return candidate


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


def zip_model(run_dir: Path, out_dir: Path) -> Path:
    """The model folder (config.json + model.safetensors) as `<run>.zip` for download."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{run_dir.name}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            z.write(run_dir / name, f"{run_dir.name}/{name}")
    return path


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


def eta_text(seconds_per_step: float, remaining: int) -> str:
    seconds = int(seconds_per_step * remaining)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"
