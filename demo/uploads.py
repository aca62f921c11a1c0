"""The upload janitor: Gradio's upload cache stays small on a public Space.

Anyone can POST files to `/gradio_api/upload` without opening the page or running an event, and
Gradio keeps them until its own `delete_cache` age (an hour here). `UploadJanitor` sweeps the cache
folder (`gradio.utils.get_upload_folder()`, which honours `GRADIO_TEMP_DIR`) every 30 s:

- an upload that no event used is removed once `CYCLEGAN_APP_UNUSED_UPLOAD_SECONDS` old (300 s);
  a used one is left to Gradio's normal cache lifetime;
- while the whole folder weighs more than `CYCLEGAN_APP_UPLOAD_CACHE_BYTES` (2 GiB), files are
  evicted oldest first: unused uploads, then everything else it may remove (used uploads, results);
- nothing younger than `CYCLEGAN_APP_UPLOAD_GRACE_SECONDS` (30 s) is ever removed, not even over
  budget: it may be an upload whose event is about to run. Growth within that window is stopped at
  the door instead: `UploadGate` answers an upload 507 when its size would put the folder over
  budget even after a sweep (`over_budget()`).

Which files are uploads: those in Gradio's own record, `blocks.upload_file_set` (the upload route
adds each file it stores), rather than a predicate the app would have to keep in step with every
file Gradio writes. Everything else there (results, examples, files Gradio made while processing
events) is the app's: never removed for being unused, only evicted over budget, and files Gradio
keeps for the page (`keep_in_cache`: examples, default values) never. An upload is *used* once the
app's event guard reports it (`mark_used`), while an event waiting in the queue names it, or once a
component took it in (Gradio then lists it in that component's `temp_files`). Gradio's records are
only read, never changed: its own cleanup iterates them on another thread.

Only Gradio's layout is touched: files in hash folders (`<folder>/<64 hex>/<name>`) and the top-level
`<folder>/tmp*` files, which no record lists: the upload route streams into them (one is orphaned
when a client drops the connection; one being written stays fresh) and `gr.File` leaves an empty one
behind for every event it takes a file in; they count as unused uploads. Anything else is counted,
never removed. Symlinks are neither followed nor removed; a file that vanishes meanwhile (Gradio's
own cleanup) is skipped; emptied hash folders are removed. A file's age runs from the newest of its
modification and status-change times (a re-upload or a fresh copy of the same file counts as new).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Iterator

from fastapi import HTTPException, Request
from gradio.utils import get_upload_folder
from starlette.concurrency import run_in_threadpool

log = logging.getLogger("cyclegan_studio")

DEFAULT_UNUSED_SECONDS = 300.0
DEFAULT_CACHE_BYTES = 2 << 30
DEFAULT_GRACE_SECONDS = 30.0
DEFAULT_SWEEP_SECONDS = 30.0
MEASURE_SECONDS = 1.0  # `over_budget()` sweeps at most this often: a gate on every upload stays cheap
HASH_FOLDER = re.compile(r"[0-9a-f]{64}")  # Gradio names a cache file's folder by its SHA-256
PARTIAL_PREFIX = "tmp"  # the upload route streams into NamedTemporaryFile(dir=<folder>)
UPLOAD_ROUTE = "/gradio_api/upload"
FULL = "The app's space for uploads is full right now; please try again in a minute."

Paths = Callable[[], Iterable["str | os.PathLike[str]"]]


def _number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


def unused_upload_seconds() -> float:
    """`CYCLEGAN_APP_UNUSED_UPLOAD_SECONDS`: how long an upload no event used is kept (default 300)."""
    return _number("CYCLEGAN_APP_UNUSED_UPLOAD_SECONDS", DEFAULT_UNUSED_SECONDS)


def upload_cache_bytes() -> int:
    """`CYCLEGAN_APP_UPLOAD_CACHE_BYTES`: what the whole upload cache folder may weigh (default 2 GiB)."""
    return int(_number("CYCLEGAN_APP_UPLOAD_CACHE_BYTES", DEFAULT_CACHE_BYTES))


def upload_grace_seconds() -> float:
    """`CYCLEGAN_APP_UPLOAD_GRACE_SECONDS`: files younger than this are never removed (default 30)."""
    return _number("CYCLEGAN_APP_UPLOAD_GRACE_SECONDS", DEFAULT_GRACE_SECONDS)


@dataclass(frozen=True)
class Swept:
    """What one sweep did: files and bytes it removed, and the bytes left in the folder."""

    removed: int = 0
    freed: int = 0
    remaining: int = 0


@dataclass(frozen=True)
class _File:
    path: str
    key: str | None  # "<hash>/<name>" for a cache file, None for a partial upload
    size: int
    time: float


def path_key(path: str | os.PathLike[str]) -> str:
    """A cache file's identity, "<hash>/<name>": the same however the folder was spelled (relative,
    through a symlink, resolved)."""
    folder, name = os.path.split(os.path.normpath(os.fspath(path)))
    return f"{os.path.basename(folder)}/{name}"


def _keys(source: Paths | None) -> set[str]:
    return {path_key(p) for p in source()} if source is not None else set()


def _named_paths(value: Any, depth: int = 0) -> Iterator[str]:
    """The file paths an event's payload names (`{"path": …}` anywhere in it)."""
    if depth > 8:
        return
    if isinstance(value, dict):
        if isinstance(value.get("path"), str):
            yield value["path"]
        for item in value.values():
            yield from _named_paths(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _named_paths(item, depth + 1)


def scan_folder(folder: str) -> tuple[list[_File], int, list[tuple[str, float]]]:
    """The files the janitor may remove, the bytes of every regular file in `folder` (symlinks not
    followed, not counted), and the empty hash folders with their modification times."""
    files, total, empty = [], 0, []
    for here, subfolders, names in os.walk(folder, followlinks=False):  # errors (a vanished folder): skipped
        in_hash_folder = os.path.dirname(here) == folder and HASH_FOLDER.fullmatch(os.path.basename(here))
        if in_hash_folder and not names and not subfolders:
            try:
                empty.append((here, os.lstat(here).st_mtime))
            except FileNotFoundError:
                pass
        for name in names:
            path = os.path.join(here, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue  # a symlink (never followed), a socket, …
            total += info.st_size
            age = max(info.st_mtime, info.st_ctime)
            if in_hash_folder:
                files.append(_File(path, f"{os.path.basename(here)}/{name}", info.st_size, age))
            elif here == folder and name.startswith(PARTIAL_PREFIX):
                files.append(_File(path, None, info.st_size, age))
    return files, total, empty


def _remove(path: str) -> bool:
    """Unlink a regular file (never a symlink's target); False when it is gone, changed or stuck."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        os.unlink(path)
        return True
    except OSError:  # gone meanwhile (Gradio's own cleanup), or not ours to remove
        return False


class UploadJanitor:
    """Keeps one upload cache folder within its limits (see the module's docstring).

    `uploads()`, `in_use()` and `keep()` return paths, read at every sweep: the uploads Gradio
    stored; files in use (never removed for being unused); files never removed. `for_blocks`
    wires them to a Gradio app; plain callables serve a folder without one (tests)."""

    def __init__(self, folder: str | os.PathLike[str] | None = None, *, uploads: Paths,
                 in_use: Paths | None = None, keep: Paths | None = None,
                 unused_seconds: float | None = None, max_bytes: int | None = None,
                 grace_seconds: float | None = None, clock: Callable[[], float] = time.time):
        self.folder = os.path.abspath(folder if folder is not None else get_upload_folder())
        self.uploads, self.in_use, self.keep = uploads, in_use, keep
        self.unused_seconds = unused_upload_seconds() if unused_seconds is None else unused_seconds
        self.max_bytes = upload_cache_bytes() if max_bytes is None else max_bytes
        self.grace_seconds = upload_grace_seconds() if grace_seconds is None else grace_seconds
        self.clock = clock
        self._used: set[str] = set()
        self._used_lock = threading.Lock()  # mark_used runs on the event loop: held only briefly
        self._sweep_lock = threading.Lock()
        self._last: tuple[float, Swept] | None = None  # (when, what) of the latest sweep
        self._booked = 0  # bytes over_budget() let in since that sweep
        self._stopping: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def for_blocks(cls, blocks: Any, **settings: Any) -> UploadJanitor:
        """The janitor of a Gradio app's upload cache; `UploadGate` finds it as `blocks.upload_janitor`.
        Reads Gradio's own records, not public API: requirements.txt pins the Gradio version that has
        them, and the tests run them against a live app."""

        def in_use() -> Iterator[str]:
            queue = getattr(blocks, "_queue", None)  # events waiting or running: their inputs
            for event in list(getattr(queue, "event_ids_to_events", {}).values()):
                yield from _named_paths(getattr(getattr(event, "data", None), "data", None))
            for files in list(blocks.temp_file_sets):  # files components made or took in
                if files is not blocks.upload_file_set:
                    yield from list(files)

        def keep() -> Iterator[str]:
            for block in list(blocks.blocks.values()):
                yield from list(getattr(block, "keep_in_cache", ()))

        janitor = cls(uploads=lambda: list(blocks.upload_file_set), in_use=in_use, keep=keep, **settings)
        blocks.upload_janitor = janitor
        return janitor

    def used(self) -> set[str]:
        """The files events have used so far (as `path_key` spells them)."""
        with self._used_lock:
            return set(self._used)

    def mark_used(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Files an event received: kept for Gradio's normal cache lifetime from now on."""
        keys = {path_key(p) for p in paths}
        with self._used_lock:
            self._used |= keys

    def sweep(self, now: float | None = None, room: int = 0) -> Swept:
        """Remove old unused uploads, then evict oldest first while the folder (with `room` bytes
        more) is over budget."""
        with self._sweep_lock:
            return self._sweep(self.clock() if now is None else now, room)

    def _sweep(self, now: float, room: int) -> Swept:
        with self._used_lock:
            marked = set(self._used)
        uploads, keep = _keys(self.uploads), _keys(self.keep)
        used = marked | _keys(self.in_use)
        files, total, empty = scan_folder(self.folder)

        def unused(f: _File) -> bool:
            return f.key is None or (f.key in uploads and f.key not in used)

        removable = [f for f in files if f.key not in keep and now - f.time >= self.grace_seconds]
        doomed = {f for f in removable if unused(f) and now - f.time >= self.unused_seconds}
        over = total + room - sum(f.size for f in doomed) - self.max_bytes
        for f in sorted(set(removable) - doomed, key=lambda f: (not unused(f), f.time)):
            if over <= 0:
                break
            doomed.add(f)
            over -= f.size

        removed, freed = 0, 0
        for f in sorted(doomed, key=lambda f: f.time):
            if _remove(f.path):
                removed, freed = removed + 1, freed + f.size
        emptied = {os.path.dirname(f.path) for f in doomed if f.key}
        for folder in emptied | {path for path, t in empty if now - t >= self.grace_seconds}:
            try:
                os.rmdir(folder)  # only ever succeeds on an empty folder
            except OSError:
                pass
        with self._used_lock:  # forget marks of files that are gone (marks made meanwhile stay)
            self._used -= marked - {f.key for f in files if f not in doomed}
        swept = Swept(removed, freed, total - freed)  # a file gone meanwhile counts until the next sweep
        self._last, self._booked = (now, swept), 0
        return swept

    def bytes_used(self) -> int:
        """What the folder weighs now (a walk of it)."""
        return scan_folder(self.folder)[1]

    def over_budget(self, incoming: int = 0) -> bool:
        """Whether `incoming` more bytes would put the folder over budget even after a sweep that made
        room for them. When they fit, they are booked until the next sweep measures them, so a burst
        of uploads counts in full although this sweeps at most once per `MEASURE_SECONDS` (asking on
        every upload stays cheap)."""
        with self._sweep_lock:
            now = self.clock()
            if self._last is None or not 0 <= now - self._last[0] < MEASURE_SECONDS:
                self._sweep(now, incoming)
            if self._last[1].remaining + self._booked + incoming > self.max_bytes:
                return True
            self._booked += incoming
            return False

    def start(self, interval: float = DEFAULT_SWEEP_SECONDS) -> None:
        """Sweep every `interval` seconds in a daemon thread (no-op when already running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = stopping = threading.Event()

        def run() -> None:
            while not stopping.wait(interval):
                try:
                    swept = self.sweep()
                    if swept.removed:
                        log.info("upload janitor: removed %d files (%d bytes); %d bytes left",
                                 swept.removed, swept.freed, swept.remaining)
                except Exception:  # noqa: BLE001 — one bad sweep must not end the janitor
                    log.exception("upload janitor: sweep failed")

        self._thread = threading.Thread(target=run, name="upload-janitor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (waits for a sweep in progress)."""
        if self._stopping is not None:
            self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


@contextlib.asynccontextmanager
async def janitor_lifespan(app: Any) -> AsyncIterator[None]:
    """The app's upload janitor sweeps from the server's start to its close (a FastAPI lifespan: a
    closed app leaves no thread behind to sweep a cache it no longer serves)."""
    janitor = getattr(app.get_blocks(), "upload_janitor", None)
    if janitor is not None:
        janitor.start()
    try:
        yield
    finally:
        if janitor is not None:
            await asyncio.to_thread(janitor.stop)


class UploadGate:
    """A FastAPI dependency of every route (`launch_options()` adds it): a POST to Gradio's upload
    route is answered 507 when its declared size (without one: the app's `max_file_size`) would put
    the app's upload cache (`blocks.upload_janitor`) over budget even after a sweep."""

    async def __call__(self, request: Request) -> None:
        if request.method != "POST" or not request.url.path.endswith(UPLOAD_ROUTE):
            return
        blocks = request.app.get_blocks()
        janitor = getattr(blocks, "upload_janitor", None)
        if janitor is None:
            return
        declared = request.headers.get("content-length", "")
        limit = getattr(blocks, "max_file_size", None)
        incoming = int(declared) if declared.isdigit() else int(limit) if isinstance(limit, (int, float)) else 0
        if await run_in_threadpool(janitor.over_budget, incoming):  # a sweep may walk the folder
            raise HTTPException(status_code=507, detail=FULL)
