"""demo/visitors.py: tokens, ids and who may use what."""

import stat

from cyclegan_core import ModelStore
from cyclegan_core.training.store import StoredModel
import gradio as gr

from demo.visitors import Identities, app_secret, may_use, new_token, visitor_id


def test_tokens_are_random_and_runs_record_only_their_hash():
    a, b = new_token(), new_token()
    assert a != b and len(a) >= 32
    assert visitor_id(a) == visitor_id(a) != visitor_id(b) and a not in visitor_id(a)
    assert visitor_id("") is None and visitor_id(None) is None


def test_the_server_issues_signed_tokens_and_verifies_them():
    ids = Identities("server secret")
    token, remembered = ids.restore("")
    assert token and remembered.startswith(token + ".") and "server secret" not in remembered
    # A token this server signed is kept, and not sent back (the browser already has it).
    kept, update = ids.restore(remembered)
    assert kept == token and isinstance(update, type(gr.skip()))
    # Anything else is a new visitor: a bare token, a forged or altered signature, another server's
    # signature, junk of any type. Nothing the client sent comes back.
    forged = [token, f"{token}.abc", remembered[:-1] + ("A" if remembered[-1] != "A" else "B"),
              Identities("other secret").signed(token), "x" * 10_000, 42, None, ["a"]]
    for value in forged:
        fresh, issued = ids.restore(value)
        assert fresh != token and issued == ids.signed(fresh) and ids.verified(issued) == fresh, value
        assert not isinstance(value, str) or value not in issued


def test_who_may_use_what(monkeypatch, tmp_path):
    monkeypatch.delenv("CYCLEGAN_SHARED_RUNS", raising=False)
    placed = StoredModel("placed", tmp_path, None, False, owner=None)
    alices = StoredModel("alices", tmp_path, None, True, owner=visitor_id("alice"))
    assert may_use(placed, None) and may_use(placed, "bob")
    assert may_use(alices, "alice") and not may_use(alices, "bob") and not may_use(alices, None)
    monkeypatch.setenv("CYCLEGAN_SHARED_RUNS", "1")
    assert may_use(alices, "bob")


def test_the_app_secret_is_made_once_private_and_kept(offline_sandbox):
    store = ModelStore()
    first = app_secret(store)
    assert app_secret(store) == first and len(first) >= 32
    path = store.root / ".app-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in store.root.iterdir()] == [".app-secret"] and store.models() == []
