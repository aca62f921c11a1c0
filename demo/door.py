"""The door: every request to the app, on every route, and every event it runs pass here first.

A public Space is reached through Gradio's whole HTTP surface, not only through the page, so the
guards live in two places that nothing goes around:

- `RouteDoor`, a FastAPI dependency of every route: the request's shape (a body of bounded size, a
  well-formed `session_hash`, an event that exists), the routes an event may use (a queued event
  never runs through `run/…`: the app's queue is closed to direct calls), and the places in the
  queue and the translation work each visitor and each client address may hold.
- `EventGuard`, around `Blocks.process_api`, which every route calls for every event, public or
  private: each input is checked against its component before any handler or Gradio's own
  preprocessing sees it. Files must be ones Gradio received for this app (its upload cache), never
  a path the client names; text has a length cap; numbers lie in their slider's range. Anything
  unexpected becomes one plain sentence, never a library's message.

Client addresses: behind a Space's proxy the visitor's address is the first `X-Forwarded-For`
entry; it is trusted when `CYCLEGAN_FORWARDED_FOR=1`, by default when the app runs on a Space
(`SPACE_ID` is set), and never otherwise (a client could name any address).
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import gradio as gr
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from gradio.utils import get_upload_folder

log = logging.getLogger("cyclegan_studio")

API = "/gradio_api/"
SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_BODY_BYTES = 256 * 1024  # an event's JSON: files travel through the upload route, not in the body
MAX_TEXT = 1000  # a task label, a name, a repo id, a token: none is longer
MAX_STREAM_FRAME_PIXELS = 1920 * 1080  # a camera frame sent inline (the webcam asks for 640×480)
STREAM_FRAME_HEADS = ("data:image/jpeg;base64", "data:image/png;base64", "data:image/webp;base64")
MAX_MARKUP = 20_000  # an HTML or Markdown component sent back as an input (the page's own progress box)
WORK_WINDOW = 60.0  # seconds over which an address's translation work is counted
TRANSLATION_WORK = ("translate", "webcam")  # the concurrency ids whose time counts as translation work

NOT_RECEIVED = "That file was not uploaded to this app, or it has expired: add it again."
MALFORMED = "The request was not understood."
FAILED = "Something went wrong on the server. The app is still running; try again."


def _setting(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def max_session_jobs() -> int:
    """`CYCLEGAN_APP_MAX_JOBS`: jobs one visitor (one session) may have waiting in the queue at once."""
    return _setting("CYCLEGAN_APP_MAX_JOBS", 4)


def max_address_jobs() -> int:
    """`CYCLEGAN_APP_MAX_ADDRESS_JOBS`: jobs one client address may have in the queue, waiting or running."""
    return _setting("CYCLEGAN_APP_MAX_ADDRESS_JOBS", 4)


def address_work_seconds() -> int:
    """`CYCLEGAN_APP_ADDRESS_WORK_SECONDS`: seconds of translation work one address may use per minute."""
    return _setting("CYCLEGAN_APP_ADDRESS_WORK_SECONDS", 90)


def forwarded_for_trusted() -> bool:
    """`CYCLEGAN_FORWARDED_FOR=1` trusts the proxy's `X-Forwarded-For`; unset, it is trusted on a Space."""
    value = os.environ.get("CYCLEGAN_FORWARDED_FOR", "").strip().lower()
    if value:
        return value in ("1", "true", "yes")
    return bool(os.environ.get("SPACE_ID"))


def client_address(request: Any) -> str:
    """Who sent `request` (a FastAPI or Gradio request): the first `X-Forwarded-For` entry where that
    is trusted, else the connection's peer."""
    if request is None:
        return "local"
    if forwarded_for_trusted():
        forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


def refuse(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


async def clean_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """A request whose body does not fit a route's model: a plain 422, nothing of it echoed."""
    return JSONResponse({"detail": MALFORMED}, status_code=422)


class WorkLedger:
    """Translation work per client address over the last `WORK_WINDOW` seconds (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._spent: dict[str, collections.deque[tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def spend(self, address: str, seconds: float) -> None:
        with self._lock:
            self._spent.setdefault(address, collections.deque()).append((self.clock(), seconds))

    def used(self, address: str) -> tuple[float, float]:
        """(seconds used in the window, seconds until the oldest of them leaves it)."""
        now = self.clock()
        with self._lock:
            spent = self._spent.get(address)
            if not spent:
                return 0.0, 0.0
            while spent and now - spent[0][0] > WORK_WINDOW:
                spent.popleft()
            if not spent:
                del self._spent[address]
                return 0.0, 0.0
            return sum(s for _, s in spent), WORK_WINDOW - (now - spent[0][0])


class RouteDoor:
    """A FastAPI dependency of every route (`launch_options()` adds it): the request's shape and the
    queue places and work each session and each address may hold. Refusals are a status and one
    sentence of our own; nothing the client sent is echoed."""

    QUEUE_ROUTES = ("queue/join", "call/")  # routes that put a job in the queue
    DIRECT_ROUTES = ("run/", "api/")  # routes that run an event at once (unqueued events only)
    JSON_ROUTES = (*QUEUE_ROUTES, *DIRECT_ROUTES, "cancel", "reset", "component_server", "stream/")

    def __init__(self):
        # Joins let through whose route has not returned yet: the queue may not have registered them.
        self.in_flight: collections.Counter[str] = collections.Counter()

    async def __call__(self, request: Request):
        path = request.url.path
        route = path.split(API, 1)[1] if API in path else path.lstrip("/")
        for key in ("session_hash",):  # the queue's stream and heartbeats name a session in the URL
            if key in request.query_params and not SESSION.fullmatch(request.query_params[key]):
                raise refuse(400, MALFORMED)
        if request.method != "POST" or not route.startswith(self.JSON_ROUTES):
            yield
            return
        body = await self.json_body(request)
        session = body.get("session_hash")
        if session is not None and (not isinstance(session, str) or not SESSION.fullmatch(session)):
            raise refuse(400, MALFORMED)
        if not route.startswith((*self.QUEUE_ROUTES, *self.DIRECT_ROUTES)):
            yield
            return
        if not isinstance(body.get("data", []), list):
            raise refuse(422, MALFORMED)
        blocks = request.app.get_blocks()
        fn = self.event(blocks, route, body)
        if route.startswith(self.DIRECT_ROUTES):
            if fn.queue:
                raise refuse(404, "This event runs through the queue: join it (queue/join or call/…).")
            yield
            return
        if route == "queue/join" and session is None:
            raise refuse(400, MALFORMED)
        keys = self.admit(blocks, client_address(request), session)
        try:
            yield  # the route puts the job in the queue
        finally:
            self.in_flight.subtract(keys)

    @staticmethod
    async def json_body(request: Request) -> dict:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            raise refuse(413, "The request is too large.")
        raw = await request.body()  # cached by Starlette: the route reads the same bytes
        if len(raw) > MAX_BODY_BYTES:
            raise refuse(413, "The request is too large.")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise refuse(400, MALFORMED) from None
        if not isinstance(body, dict):
            raise refuse(400, MALFORMED)
        return body

    @staticmethod
    def event(blocks: gr.Blocks, route: str, body: dict):
        """The event a request names (by `fn_index`, or by the api name in its route)."""
        index = body.get("fn_index")
        name = route.split("/", 1)[1].strip("/") if "/" in route else ""
        if index is None and route.startswith(("run/", "api/", "call/")) and name not in ("predict", ""):
            for fn in blocks.fns.values():
                if fn.api_name == name:
                    return fn
            raise refuse(404, "There is no such event.")
        if isinstance(index, bool) or not isinstance(index, int) or index not in blocks.fns:
            raise refuse(404, "There is no such event.")
        return blocks.fns[index]

    def admit(self, blocks: gr.Blocks, address: str, session: str | None) -> list[str]:
        """Refuse a job beyond a session's or an address's share of the queue, or beyond an address's
        translation work per minute; the keys it holds in `in_flight` until its route returns. Jobs are
        counted from the queue itself (a session's until their results are delivered; an address's
        while they wait or run) plus the joins in flight, so a burst cannot slip past."""
        queue = getattr(blocks, "_queue", None)
        by_session, by_address = 0, 0
        if queue is not None:
            if session:
                by_session = len(queue.pending_event_ids_session.get(session, ()))
            by_address = sum(1 for event in queued_events(queue) if client_address(event.request) == address)
        keys = [f"address:{address}"] + ([f"session:{session}"] if session else [])
        # From here to the end nothing awaits: one admission at a time.
        if session and by_session + self.in_flight[keys[1]] >= max_session_jobs():
            raise refuse(429, f"You already have {max_session_jobs()} jobs waiting; try again when one of them "
                              f"has started.")
        if by_address + self.in_flight[keys[0]] >= max_address_jobs():
            raise refuse(429, f"Your connection already has {max_address_jobs()} jobs in the queue; try again "
                              f"when one of them has finished.")
        ledger = getattr(blocks, "work_ledger", None)  # set by EventGuard.install
        used, wait = ledger.used(address) if ledger is not None else (0.0, 0.0)
        if used >= address_work_seconds():
            raise refuse(429, f"Your connection used its share of the machine for this minute; try again in "
                              f"{max(1, math.ceil(wait))} s.")
        self.in_flight.update(keys)
        self.in_flight += collections.Counter()  # drop keys that reached zero
        return keys


def queued_events(queue) -> Iterable:
    """Every job in Gradio's queue, waiting or running (the queue's own bookkeeping: the tests pin
    the Gradio version that has it)."""
    for event_queue in list(queue.event_queue_per_concurrency_id.values()):
        yield from list(event_queue.queue)
    for job in list(queue.active_jobs):
        yield from job or ()


# --- the events ---

FILE_COMPONENTS = (gr.Image, gr.File, gr.UploadButton, gr.Gallery, gr.Video, gr.Audio, gr.Model3D)
CHOICE_COMPONENTS = (gr.Dropdown, gr.Radio)
TEXT_COMPONENTS = (gr.Textbox, gr.BrowserState)
MARKUP_COMPONENTS = (gr.HTML, gr.Markdown)
NUMBER_COMPONENTS = (gr.Slider, gr.Number)


class EventGuard:
    """Wraps `Blocks.process_api`, the one call every route makes for every event: inputs are checked
    before anything else sees them, failures leave as one plain sentence, and the time of translation
    work is booked to the client's address (`WorkLedger`). `used_files` hears of every upload an event
    received (the upload janitor keeps those)."""

    def __init__(self, blocks: gr.Blocks, ledger: WorkLedger, used_files: Callable[[list[str]], None] | None = None,
                 upload_folder: str | None = None):
        self.blocks, self.ledger, self.used_files = blocks, ledger, used_files
        self.upload_folder = os.path.realpath(upload_folder or get_upload_folder())
        self.inner = blocks.process_api

    def install(self) -> None:
        self.blocks.process_api = self.process_api
        self.blocks.work_ledger = self.ledger  # the route door reads each address's work here

    async def process_api(self, block_fn, inputs, state=None, request=None, **options) -> dict:
        fn = self.blocks.fns[block_fn] if isinstance(block_fn, int) else block_fn
        if fn.fn is None:  # an event that runs in the page alone (say, a Stop that cancels another)
            raise gr.Error("There is nothing to run for this event.", print_exception=False)
        files = self.check(fn, inputs, state)
        if files and self.used_files is not None:
            self.used_files(files)
        start = time.perf_counter()
        try:
            return await self.inner(block_fn, inputs, state=state, request=request, **options)
        except gr.Error:
            raise
        except Exception as e:  # noqa: BLE001 — the owner reads it in the log; the visitor one sentence
            log.error("event %s failed", getattr(fn, "api_name", None) or getattr(fn, "name", "?"), exc_info=e)
            raise gr.Error(FAILED, print_exception=False) from None
        finally:
            if fn.concurrency_id in TRANSLATION_WORK:
                address = client_address(request[0] if isinstance(request, list) and request else request)
                self.ledger.spend(address, time.perf_counter() - start)

    def check(self, fn, inputs, state=None) -> list[str]:
        """Refuse inputs that do not fit their components (gr.Error); the upload paths they name.
        A component is taken as this session has it (its choices may have been updated)."""
        if not isinstance(inputs, list) or len(inputs) != len(fn.inputs):
            raise gr.Error(MALFORMED, print_exception=False)
        files: list[str] = []
        for block, value in zip(fn.inputs, inputs):
            if block.stateful and not isinstance(block, gr.BrowserState):
                continue  # the session's own value is used, whatever the request says
            if state is not None and block._id in state:
                block = state[block._id]
            self.check_value(block, value, files)
        return files

    def check_value(self, block, value, files: list[str]) -> None:
        if isinstance(block, CHOICE_COMPONENTS):
            check_choice(block, value)
        elif isinstance(block, gr.Dataset):  # an examples table sends the index of the row clicked
            samples = getattr(block, "samples", None) or []
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value < len(samples)):
                raise gr.Error(MALFORMED, print_exception=False)
        elif isinstance(block, gr.Image) and getattr(block, "streaming", False) and isinstance(value, dict) \
                and "path" not in value:
            check_stream_frame(value)  # a camera's frame comes inline, not as an upload
        elif isinstance(block, FILE_COMPONENTS):
            self.check_files(value, files)
        elif isinstance(block, gr.Checkbox):
            if value is not None and not isinstance(value, bool):
                raise gr.Error(MALFORMED, print_exception=False)
        elif isinstance(block, NUMBER_COMPONENTS):
            check_number(block, value)
        elif isinstance(block, TEXT_COMPONENTS):
            check_text(value, MAX_TEXT)
        elif isinstance(block, MARKUP_COMPONENTS):
            check_text(value, MAX_MARKUP)
        else:
            self.check_other(value, files)

    def check_files(self, value, files: list[str]) -> None:
        """A file component's payload: nothing, a file object, a gallery item ({"image": file, "caption":
        text}) or a list of these. Every file must be one Gradio received (`received`)."""
        items = value if isinstance(value, list) else [value]
        if len(items) > 5000:
            raise gr.Error(MALFORMED, print_exception=False)
        for item in items:
            if item is None:
                continue
            if not isinstance(item, dict):  # a bare path, a number: never a file
                raise gr.Error(NOT_RECEIVED if isinstance(item, str) else MALFORMED, print_exception=False)
            if "path" in item or "url" in item:
                files.append(self.received(item))
            elif set(item) <= {"image", "video", "caption"}:
                for key in ("image", "video"):
                    if item.get(key) is not None:
                        self.check_files(item[key], files) if isinstance(item[key], dict) else self.check_files(
                            [item[key]], files)
                check_text(item.get("caption"), MAX_TEXT)
            else:
                raise gr.Error(MALFORMED, print_exception=False)

    def check_other(self, value, files: list[str], depth: int = 0) -> None:
        """Any other component's payload: plain data of bounded size, and any file in it received."""
        if depth > 4:
            raise gr.Error(MALFORMED, print_exception=False)
        if isinstance(value, dict):
            if "path" in value or "url" in value:
                files.append(self.received(value))
                return
            for item in value.values():
                self.check_other(item, files, depth + 1)
        elif isinstance(value, list):
            if len(value) > 5000:
                raise gr.Error(MALFORMED, print_exception=False)
            for item in value:
                self.check_other(item, files, depth + 1)
        elif isinstance(value, str):
            check_text(value, MAX_MARKUP)
        elif value is not None and not isinstance(value, (int, float, bool)):
            raise gr.Error(MALFORMED, print_exception=False)

    def received(self, payload: dict) -> str:
        path = payload.get("path")
        if not isinstance(path, str) or not path or len(path) > 4096 or "\x00" in path:
            raise gr.Error(NOT_RECEIVED, print_exception=False)
        url = payload.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > 8192 or url.startswith("data:")):
            raise gr.Error(NOT_RECEIVED, print_exception=False)
        inside = os.path.normpath(os.path.join(self.upload_folder, path))  # lexical first: no disk access outside
        if not inside.startswith(self.upload_folder + os.sep):
            raise gr.Error(NOT_RECEIVED, print_exception=False)
        real = os.path.realpath(inside)
        if not real.startswith(self.upload_folder + os.sep) or not Path(real).is_file():
            raise gr.Error(NOT_RECEIVED, print_exception=False)
        return real


def check_stream_frame(value: dict) -> None:
    """A streaming image input's frame (the webcam section's): `{"url": "data:image/…;base64,…"}`, inside
    the body cap, a JPEG, PNG or WebP whose header (read before anything decodes it) says at most
    `MAX_STREAM_FRAME_PIXELS`: a small file may not unfold into a huge picture."""
    import base64
    import binascii
    import io

    from PIL import Image
    url = value.get("url")
    if set(value) - {"url", "meta", "orig_name", "mime_type"} or not isinstance(url, str):
        raise gr.Error(MALFORMED, print_exception=False)
    head, _, data = url.partition(",")
    if head not in STREAM_FRAME_HEADS or len(url) > MAX_BODY_BYTES:
        raise gr.Error(MALFORMED, print_exception=False)
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as picture:
            width, height = picture.size
            kind = picture.format
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombError):
        raise gr.Error("That camera frame is not a picture.", print_exception=False) from None
    if kind not in ("JPEG", "PNG", "WEBP") or width * height > MAX_STREAM_FRAME_PIXELS:
        raise gr.Error("That camera frame is not one this app takes.", print_exception=False)


def check_text(value, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise gr.Error(MALFORMED, print_exception=False)
    if len(value) > limit:
        raise gr.Error(f"That text is too long (at most {limit} characters).", print_exception=False)


def check_choice(block, value) -> None:
    """A dropdown's or radio's value: one of its choices (any text up to `MAX_TEXT` where it takes custom
    values), of the choices' type; Gradio's own check would echo the value and every choice."""
    values = [c[1] if isinstance(c, (tuple, list)) else c for c in (getattr(block, "choices", None) or [])]
    numeric = any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    items = value if isinstance(value, list) and getattr(block, "multiselect", False) else [value]
    if len(items) > 100:
        raise gr.Error(MALFORMED, print_exception=False)
    for item in items:
        if item is None:
            continue
        if isinstance(item, str):
            check_text(item, MAX_TEXT)
        elif not (numeric and isinstance(item, (int, float)) and not isinstance(item, bool)):
            raise gr.Error(MALFORMED, print_exception=False)
        if not getattr(block, "allow_custom_value", False) and item not in values:
            raise gr.Error("Choose one of the listed options.", print_exception=False)


def check_number(block, value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise gr.Error(MALFORMED, print_exception=False)
    low, high = getattr(block, "minimum", None), getattr(block, "maximum", None)
    if (low is not None and value < low) or (high is not None and value > high):
        label = getattr(block, "label", None) or "a number"
        raise gr.Error(f"{label}: choose a value from {low:g} to {high:g}.", print_exception=False)
