"""Who is asking: each visitor's runs are their own.

A visitor is a random token the server issues, signed with a secret that stays on the server
(`Identities`), kept in their browser (and, for API callers, in their session); runs record only
its hash (`visitor_id`), never the token. A visitor uses the zoo, the models the Space's
owner placed in the store (no owner) and their own runs. `CYCLEGAN_SHARED_RUNS=1` (a private or
classroom Space) makes every run visible to everyone.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import gradio as gr

from cyclegan_core import ModelStore
from cyclegan_core.training.store import StoredModel

SECRET_NAME = ".app-secret"  # signs the tokens the server issues; kept with the store, never sent out


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


class Identities:
    """Visitor tokens the server issues and verifies. The browser keeps `token.signature`, where the
    signature is an HMAC of the token with the store's secret, which never leaves the server (it is
    in no page, no `/config`, no answer). A value the server did not sign, or one it cannot read,
    gets a fresh identity; a good one is kept as it is and never sent back."""

    def __init__(self, secret: str):
        self._key = secret.encode()

    def signed(self, token: str) -> str:
        return f"{token}.{self._signature(token)}"

    def verified(self, value) -> str | None:
        """The token in `value` if this server signed it, else None."""
        if not isinstance(value, str) or len(value) > 200:
            return None
        token, _, signature = value.rpartition(".")
        if not token or not hmac.compare_digest(signature, self._signature(token)):
            return None
        return token

    def restore(self, remembered) -> tuple:
        """On page load: (the session's token, the browser's new value or gr.skip() to leave it)."""
        token = self.verified(remembered)
        if token is not None:
            return token, gr.skip()
        token = new_token()
        return token, self.signed(token)

    def _signature(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()[:43]
