"""download.py: a probe that answers within its timeout, and a download that checks what arrived."""

import hashlib
import socket
import threading

import pytest

from conftest import closed_port_url
from cyclegan_core.sources.download import download, probe
from servers import FakeUpstream


def test_probe_says_reachable_for_any_http_answer():
    with FakeUpstream({"x.pth": b"abc"}) as server:
        assert probe(f"{server.url}/x.pth") is None
        assert probe(f"{server.url}/missing.pth") is None  # a 404 is an answer: the server is there


def test_probe_gives_the_reason_when_nothing_answers():
    assert "refused" in probe(closed_port_url()).lower()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        reason = probe(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        assert reason is not None and ("timed out" in reason or reason == "no answer within 0.5 s"), reason


def test_probe_gives_up_at_its_timeout_whatever_the_attempt_is_doing(monkeypatch):
    """A look-up that ignores socket timeouts (a hung resolver) does not hold the probe: it answers at
    its timeout, not when the attempt ends."""
    import urllib.request
    release = threading.Event()

    def hung(request, timeout):
        release.wait(60)  # a limit, so that the thread ends after the test
        raise OSError("the attempt ended")

    monkeypatch.setattr(urllib.request, "urlopen", hung)
    try:
        assert probe("http://127.0.0.1:9/x.pth", timeout=0.5) == "no answer within 0.5 s"
    finally:
        release.set()


def test_download_writes_the_file_and_returns_its_sha256(tmp_path):
    body = bytes(range(256)) * 5000
    with FakeUpstream({"w.pth": body}) as server:
        digest = download(f"{server.url}/w.pth", tmp_path / "sub" / "w.pth")
    assert (tmp_path / "sub" / "w.pth").read_bytes() == body
    assert digest == hashlib.sha256(body).hexdigest()
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["w.pth"]  # no temporary files left


def test_cut_short_or_empty_downloads_fail_and_leave_nothing(tmp_path):
    with FakeUpstream({"w.pth": b"x" * 10_000, "empty.pth": b""}, truncate=True) as server:
        with pytest.raises(OSError, match="cut short: 5000 of 10000 bytes"):
            download(f"{server.url}/w.pth", tmp_path / "w.pth")
    with FakeUpstream({"empty.pth": b""}) as server:
        with pytest.raises(OSError, match="was empty"):
            download(f"{server.url}/empty.pth", tmp_path / "empty.pth")
    assert list(tmp_path.iterdir()) == []
