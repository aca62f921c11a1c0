"""demo/visitors.py: tokens, ids and who may use what."""

import stat

from cyclegan_core import ModelStore
from cyclegan_core.store import StoredModel
from demo.visitors import app_secret, may_use, new_token, restore, visitor_id


def test_tokens_are_random_and_runs_record_only_their_hash():
    a, b = new_token(), new_token()
    assert a != b and len(a) >= 32
    assert visitor_id(a) == visitor_id(a) != visitor_id(b) and a not in visitor_id(a)
    assert visitor_id("") is None and visitor_id(None) is None


def test_restore_keeps_a_remembered_token_or_makes_one():
    assert restore("kept") == ("kept", "kept")
    token, remembered = restore("")
    assert token == remembered and token


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
