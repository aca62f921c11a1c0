"""Long translations on the page: how large a quick preview may be, how fast this process translates,
the time left, the progress box, and the worker thread that a Cancel stops. No gradio here.

A preview is at most 0.5 MP and sized to take about `PREVIEW_SECONDS` at the speed measured last for the
same model and device (`SpeedRecord`; 0.1 MP before anything was timed). The time left comes from the
elapsed time once 3 % of the work is done, before that from the expected speed.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Callable, Generic, TypeVar

PREVIEW_MAX_PIXELS = 500_000
FIRST_PREVIEW_PIXELS = 100_000  # nothing timed yet: small enough for any CPU
MIN_PREVIEW_PIXELS = 50_000
PREVIEW_SECONDS = 1.2  # what a preview's translation may take at the measured speed
PREVIEW_WORTH = 2.0  # a preview only for pictures at least this many times its size (else it is no quicker)
ESTIMATE_FROM = 0.03  # from this fraction done on, the time left comes from the elapsed time

T = TypeVar("T")


class SpeedRecord:
    """Translation speed (pixels per second) measured in this process, per (model source, device). The
    latest measurement counts: a training run sharing the CPU halves it, and the next one shows it."""

    def __init__(self):
        self._speeds: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def record(self, key: tuple[str, str], pixels: int, seconds: float) -> None:
        if pixels > 0 and seconds > 0:
            with self._lock:
                self._speeds[key] = pixels / seconds

    def speed(self, key: tuple[str, str]) -> float | None:
        with self._lock:
            return self._speeds.get(key)

    def preview_pixels(self, key: tuple[str, str]) -> int:
        """How many pixels a preview may have: about `PREVIEW_SECONDS` of work, within 0.05–0.5 MP."""
        speed = self.speed(key)
        if speed is None:
            return FIRST_PREVIEW_PIXELS
        return int(min(PREVIEW_MAX_PIXELS, max(MIN_PREVIEW_PIXELS, PREVIEW_SECONDS * speed)))

    def expected_seconds(self, key: tuple[str, str], pixels: int) -> float | None:
        speed = self.speed(key)
        return None if speed is None else pixels / speed


def preview_size(size: tuple[int, int], pixels: int) -> tuple[int, int] | None:
    """A preview's size for a picture of `size`: at most `pixels` pixels, aspect kept. None where the
    picture has fewer than `PREVIEW_WORTH` × `pixels` (it is translated at once)."""
    width, height = size
    if width * height <= PREVIEW_WORTH * pixels:
        return None
    scale = (pixels / (width * height)) ** 0.5
    return max(1, int(width * scale)), max(1, int(height * scale))


def seconds_left(fraction: float, elapsed: float, expected: float | None = None) -> float | None:
    """The time left of a pass `fraction` done after `elapsed` seconds; before `ESTIMATE_FROM` is done,
    from `expected` (the whole pass's expected seconds), None if that is unknown or already exceeded."""
    if fraction >= ESTIMATE_FROM:
        return elapsed * (1 - fraction) / fraction
    if expected is not None and elapsed < expected:
        return max(expected - elapsed, 1.0)  # barely started: not "almost done"
    return None


def time_left_text(seconds: float | None) -> str:
    if seconds is None:
        return "estimating the time left…"
    if seconds < 1:
        return "almost done"
    if seconds < 90:
        return f"about {round(seconds)} s left"
    return f"about {round(seconds / 60)} min left"


def progress_html(title: str, fraction: float, left: str) -> str:
    """The progress box: `title`, the percentage done, the time left and a progress bar."""
    percent = int(max(0.0, min(fraction, 1.0)) * 100)
    return (f'<div class="translate-progress-text">{html.escape(title)}: <strong>{percent} %</strong> · '
            f'{html.escape(left)}</div><progress max="100" value="{percent}">{percent} %</progress>')


def message_html(text: str) -> str:
    return f'<div class="translate-progress-text">{html.escape(text)}</div>'


class Cancelled(Exception):
    """Raised inside a translation's progress callback once its `Worker` is cancelled."""


class Worker(Generic[T]):
    """Runs `work(progress)` in a daemon thread. `progress(fraction)`, handed to the core, records how far
    the work is and raises `Cancelled` once `cancel()` was called: the core stops at its next call."""

    THREAD_NAME = "cyclegan-translate"

    def __init__(self, work: Callable[[Callable[[float], None]], T], clock: Callable[[], float] = time.monotonic):
        self.work, self.clock = work, clock
        self.fraction = 0.0
        self.started = clock()
        self._cancelled, self._done = threading.Event(), threading.Event()
        self._result: T | None = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=self.THREAD_NAME, daemon=True)

    def start(self) -> Worker[T]:
        self.started = self.clock()
        self.thread.start()
        return self

    def progress(self, fraction: float) -> None:
        if self._cancelled.is_set():
            raise Cancelled("the translation was cancelled")
        self.fraction = min(max(fraction, self.fraction), 1.0)

    def _run(self) -> None:
        try:
            self._result = self.work(self.progress)
        except BaseException as e:  # handed to whoever asks for the result
            self._error = e
        finally:
            self._done.set()

    def wait(self, seconds: float) -> bool:
        """Whether the work is done, waiting at most `seconds` for it."""
        return self._done.wait(seconds)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def cancel(self) -> None:
        self._cancelled.set()

    def result(self) -> T:
        """The work's result (or its error, raised), once `wait` said it is done (its thread then ends at
        once: joined here)."""
        self.thread.join()
        if self._error is not None:
            raise self._error
        return self._result
