"""Who is asking: each visitor's runs are their own.

A visitor is a random token kept in their browser (and, for API callers, in their session); runs
record only its hash (`visitor_id`), never the token. A visitor uses the zoo, the models the Space's
owner placed in the store (no owner) and their own runs. `CYCLEGAN_SHARED_RUNS=1` (a private or
classroom Space) makes every run visible to everyone.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

from fastapi import HTTPException, Request

from cyclegan_core import ModelStore
from cyclegan_core.store import StoredModel

SECRET_NAME = ".app-secret"  # encrypts the token stored in the browser; kept with the store


def shared_runs() -> bool:
    return os.environ.get("CYCLEGAN_SHARED_RUNS", "").strip().lower() in ("1", "true", "yes")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def visitor_id(token: str | None) -> str | None:
    """What a run records of its visitor: a hash of the token (None without a token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32] if token else None


def may_use(model: StoredModel, token: str | None) -> bool:
    """The owner's models are everyone's; a run is its visitor's (or everyone's when shared)."""
    return model.owner is None or shared_runs() or model.owner == visitor_id(token)


def app_secret(store: ModelStore) -> str:
    """A secret that outlives restarts (so browsers keep their token), created once in the store."""
    path = Path(store.root) / SECRET_NAME
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f"{SECRET_NAME}.{os.getpid()}.tmp")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_urlsafe(32))
        try:
            os.link(candidate, path)  # the first process to get here wins; others read its secret
        except FileExistsError:
            pass
        finally:
            candidate.unlink(missing_ok=True)
    return path.read_text().strip()


def restore(remembered: str | None) -> tuple[str, str]:
    """On page load: the browser's token, or a new one (kept in the session and the browser)."""
    token = remembered or new_token()
    return token, token


DEFAULT_MAX_JOBS = 4


def max_jobs() -> int:
    """`CYCLEGAN_APP_MAX_JOBS`: jobs one visitor (one session) may have waiting in the queue at once."""
    value = os.environ.get("CYCLEGAN_APP_MAX_JOBS")
    return int(value) if value else DEFAULT_MAX_JOBS


class JobLimit:
    """A FastAPI dependency of every route: a request to join the queue from a session that already
    has `max_jobs()` jobs waiting (not yet started) is answered 429, so no one visitor fills the queue
    that everyone shares.

    The count is the larger of the queue's own (Gradio keeps each session's pending jobs; that is not
    public API, so the tests pin the Gradio version that has it) and the joins let through in the
    last `WINDOW` seconds: a burst arrives faster than the queue registers its jobs, while one
    visitor's requests one after another are each a round trip apart."""

    WINDOW = 0.05

    def __init__(self):
        self.recent: dict[str, list[float]] = {}

    async def __call__(self, request: Request) -> None:
        if request.method != "POST" or not request.url.path.endswith("/queue/join"):
            return
        try:
            session = (await request.json()).get("session_hash")
        except ValueError:
            return  # Gradio itself answers a malformed body
        if not session:
            return
        queue = getattr(request.app.get_blocks(), "_queue", None)
        registered = len(queue.pending_event_ids_session.get(session, ())) if queue is not None else 0
        now = time.monotonic()  # from here to the end nothing awaits: one check at a time
        joins = [t for t in self.recent.get(session, []) if now - t < self.WINDOW]
        waiting = max(registered, len(joins))
        if waiting >= max_jobs():
            raise HTTPException(status_code=429, detail=f"You already have {waiting} jobs waiting; try again "
                                                        f"when one of them has started.")
        self.recent = {k: v for k, v in self.recent.items() if v and now - v[-1] < self.WINDOW}
        self.recent[session] = [*joins, now]
