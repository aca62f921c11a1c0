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
from pathlib import Path

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
