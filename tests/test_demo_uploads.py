"""The upload janitor (demo/uploads.py): unused uploads expire, the cache folder keeps to its byte
budget, symlinks and vanishing files are harmless, and a real Gradio app's uploads are swept."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import httpx  # noqa: E402
import pytest  # noqa: E402

from demo import uploads  # noqa: E402
from demo.uploads import UploadJanitor  # noqa: E402

# A file's age is the newest of its mtime and ctime; ctime is the real moment of creation, so the
# tests give each file an mtime after that (T0 and later) and sweep at explicit times after T0.
T0 = time.time() + 10_000


def put(folder: Path, name: str, size: int = 100, born: float = T0) -> Path:
    """A cache file as Gradio stores one: <folder>/<sha256>/<name>, `born` at the given time."""
    data = hashlib.sha256(name.encode()).digest() * (size // 32 + 1)
    path = folder / hashlib.sha256(data[:size] + name.encode()).hexdigest() / name
    path.parent.mkdir(parents=True)
    path.write_bytes(data[:size])
    os.utime(path, (born, born))
    return path


def janitor(folder: Path, uploaded: list[Path], **settings) -> UploadJanitor:
    settings = {"unused_seconds": 300, "max_bytes": 1 << 30, "grace_seconds": 30, **settings}
    return UploadJanitor(folder, uploads=lambda: uploaded, **settings)


def test_an_unused_upload_expires_while_used_fresh_and_app_files_stay(tmp_path):
    old, used, fresh = put(tmp_path, "old.png"), put(tmp_path, "used.png"), put(tmp_path, "fresh.png", born=T0 + 250)
    result = put(tmp_path, "result.webp")  # made by the app, never uploaded
    j = janitor(tmp_path, [old, used, fresh])
    # The event guard reports paths as it resolved them: another spelling of the same file.
    j.mark_used([os.path.realpath(used)])

    assert j.sweep(now=T0 + 299) == uploads.Swept(removed=0, freed=0, remaining=400)
    swept = j.sweep(now=T0 + 301)

    assert not old.exists() and not old.parent.exists()  # the emptied hash folder goes with it
    assert used.exists() and fresh.exists() and result.exists()
    assert swept == uploads.Swept(removed=1, freed=100, remaining=300)
    assert j.bytes_used() == 300


def test_the_budget_evicts_oldest_unused_uploads_then_oldest_used_files(tmp_path):
    a, b = put(tmp_path, "a.png", born=T0 + 10), put(tmp_path, "b.png", born=T0 + 20)  # unused
    c, d = put(tmp_path, "c.png", born=T0), put(tmp_path, "d.png", born=T0 + 5)  # used
    result = put(tmp_path, "result.webp", born=T0 + 1)  # the app's: evicted like a used file
    example = put(tmp_path, "example.jpg", born=T0 - 1)  # kept for the page: never evicted
    fresh = put(tmp_path, "fresh.png", born=T0 + 95)  # younger than the grace period
    j = UploadJanitor(tmp_path, uploads=lambda: [a, b, c, d, fresh], in_use=lambda: [result],
                      keep=lambda: [example], unused_seconds=10**6, max_bytes=350, grace_seconds=30)
    j.mark_used([c, d])

    swept = j.sweep(now=T0 + 100)  # 700 bytes: 400 must go

    assert [p.name for p in (a, b, c, d, result, example, fresh) if not p.exists()] == ["a.png", "b.png", "c.png",
                                                                                        "result.webp"]
    assert swept == uploads.Swept(removed=4, freed=400, remaining=300)
    assert j.bytes_used() == 300


def test_fresh_files_are_never_evicted_and_the_gate_refuses_instead(tmp_path):
    clock = [T0 + 10]
    fresh = [put(tmp_path, f"{i}.png", born=T0 + i) for i in range(3)]
    j = UploadJanitor(tmp_path, uploads=lambda: fresh, unused_seconds=0, max_bytes=250, grace_seconds=30,
                      clock=lambda: clock[0])

    assert j.over_budget()  # 300 bytes, all younger than 30 s: nothing can go
    assert all(p.exists() for p in fresh)

    clock[0] = T0 + 30.5  # the oldest is past the grace period; unused uploads expire at once here
    assert not j.over_budget()
    assert [p.exists() for p in fresh] == [False, True, True]


def test_over_budget_makes_room_and_books_what_it_lets_in(tmp_path):
    clock = [T0 + 100]
    old_used = [put(tmp_path, f"{i}.png", born=T0 + i) for i in range(3)]
    j = UploadJanitor(tmp_path, uploads=lambda: old_used, unused_seconds=10**6, max_bytes=400,
                      grace_seconds=30, clock=lambda: clock[0])
    j.mark_used(old_used)

    assert not j.over_budget(incoming=250)  # 300 + 250 > 400: the oldest two make room
    assert [p.exists() for p in old_used] == [False, False, True]
    assert not j.over_budget(incoming=50)  # 100 + 250 booked + 50 = 400: fits, without a sweep
    assert j.over_budget(incoming=1)  # the booked bytes count before any file is measured
    clock[0] += uploads.MEASURE_SECONDS  # the next question sweeps again: the bookings were never written
    assert not j.over_budget(incoming=300)


def test_emptied_and_stale_empty_hash_folders_go_other_folders_stay(tmp_path):
    gone = put(tmp_path, "gone.png")
    stale, recent = tmp_path / ("a" * 64), tmp_path / ("b" * 64)  # left empty by Gradio's own cleanup
    stale.mkdir(), recent.mkdir()
    os.utime(stale, (T0, T0)), os.utime(recent, (T0 + 90, T0 + 90))
    other = tmp_path / "deep_links"
    other.mkdir()
    j = janitor(tmp_path, [gone], unused_seconds=60)

    j.sweep(now=T0 + 100)

    assert not gone.parent.exists() and not stale.exists()
    assert recent.exists()  # may have been made for an upload that is being moved in
    assert other.exists() and tmp_path.exists()


def test_symlinks_are_neither_followed_nor_counted(tmp_path):
    folder, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_bytes(b"s" * 1000)
    os.utime(secret, (T0, T0))
    link = folder / ("c" * 64) / "link.png"  # a file symlink inside a hash folder
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    linked_folder = folder / ("d" * 64)  # a hash folder that is a symlink to outside
    linked_folder.symlink_to(outside, target_is_directory=True)
    real = put(folder, "real.png")
    paths = [link, linked_folder / "secret.txt", real]
    j = janitor(folder, paths, unused_seconds=0, max_bytes=0, grace_seconds=0)

    assert j.bytes_used() == 100
    swept = j.sweep(now=T0 + 10**6)

    assert secret.read_bytes() == b"s" * 1000
    assert link.is_symlink() and linked_folder.is_symlink()
    assert not real.exists()
    assert swept == uploads.Swept(removed=1, freed=100, remaining=0)


def test_files_vanishing_during_a_sweep_do_not_raise(tmp_path, monkeypatch):
    listed_then_gone, scanned_then_gone, folder_gone, stays = (put(tmp_path, n) for n in ("l.png", "s.png",
                                                                                          "f.png", "k.png"))
    real_walk, real_scan = os.walk, uploads.scan_folder

    def walk(top, **options):  # a file disappears between the folder listing and its lstat
        for here, subfolders, names in real_walk(top, **options):
            if here == str(listed_then_gone.parent):
                listed_then_gone.unlink()
            yield here, subfolders, names

    def scan(folder):  # files and a whole hash folder disappear between the scan and the removal
        found = real_scan(folder)
        scanned_then_gone.unlink()
        shutil.rmtree(folder_gone.parent)
        return found

    monkeypatch.setattr(os, "walk", walk)
    monkeypatch.setattr(uploads, "scan_folder", scan)
    j = janitor(tmp_path, [listed_then_gone, scanned_then_gone, folder_gone], unused_seconds=60)

    swept = j.sweep(now=T0 + 100)

    assert swept.removed == 0 and swept.freed == 0
    assert stays.exists()
    assert not scanned_then_gone.parent.exists() and not folder_gone.parent.exists()
    monkeypatch.undo()
    j.sweep(now=T0 + 100)  # the folder emptied behind the scan's back goes on the next sweep
    assert not listed_then_gone.parent.exists() and stays.exists()


def test_a_partial_upload_left_at_the_top_counts_as_unused(tmp_path):
    partial = tmp_path / "tmpab12cd"  # the upload route's NamedTemporaryFile, orphaned
    partial.write_bytes(b"p" * 50)
    os.utime(partial, (T0, T0))
    note = tmp_path / "notes.txt"  # not Gradio's layout: counted, never touched
    note.write_bytes(b"n" * 10)
    os.utime(note, (T0, T0))
    j = janitor(tmp_path, [], unused_seconds=60)

    assert j.sweep(now=T0 + 59).removed == 0
    assert j.sweep(now=T0 + 61) == uploads.Swept(removed=1, freed=50, remaining=10)
    assert note.exists()


def test_marks_of_files_that_are_gone_are_forgotten(tmp_path):
    used = put(tmp_path, "used.png")
    j = janitor(tmp_path, [used])
    j.mark_used([used, tmp_path / "never-there" / "x.png"])

    j.sweep(now=T0 + 1)

    assert j.used() == {uploads.path_key(used)}


def test_the_apps_janitor_sweeps_while_its_server_serves_and_stops_when_it_closes(offline_sandbox):
    """An app closed (a test's, a reloaded Space's) leaves no thread sweeping Gradio's shared cache."""
    from demo import build_demo, launch_options

    app = build_demo()
    assert not app.upload_janitor.running  # built, not serving: nothing to keep
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    try:
        assert app.upload_janitor.running
    finally:
        app.close()
    assert not app.upload_janitor.running


def test_the_thread_sweeps_until_stopped(tmp_path):
    old = put(tmp_path, "old.png")
    uploaded = [old]
    j = janitor(tmp_path, uploaded, unused_seconds=60)
    j.clock = lambda: T0 + 100

    def sweepers():
        return [t for t in threading.enumerate() if t.name == "upload-janitor" and t.is_alive()]

    before = set(sweepers())
    j.start(interval=0.02)
    j.start(interval=0.02)  # already running: the same thread
    started = set(sweepers()) - before
    assert len(started) == 1
    first = started.pop()
    deadline = time.monotonic() + 5
    while old.exists() and time.monotonic() < deadline:
        time.sleep(0.01)

    assert not old.exists()
    assert j.running and first.is_alive() and first.daemon and set(sweepers()) - before == {first}
    j.stop()
    assert not j.running and not first.is_alive()
    late = put(tmp_path, "late.png")
    uploaded.append(late)
    assert late.exists()  # nothing sweeps after stop(): its thread has ended (above)
    assert j.sweep().removed == 1  # though a sweep would have removed it


def test_settings_come_from_the_environment(tmp_path, monkeypatch):
    for name in ("CYCLEGAN_APP_UNUSED_UPLOAD_SECONDS", "CYCLEGAN_APP_UPLOAD_CACHE_BYTES",
                 "CYCLEGAN_APP_UPLOAD_GRACE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    j = UploadJanitor(tmp_path, uploads=list)
    assert (j.unused_seconds, j.max_bytes, j.grace_seconds) == (300, 2 << 30, 30)

    monkeypatch.setenv("CYCLEGAN_APP_UNUSED_UPLOAD_SECONDS", "45")
    monkeypatch.setenv("CYCLEGAN_APP_UPLOAD_CACHE_BYTES", "1048576")
    monkeypatch.setenv("CYCLEGAN_APP_UPLOAD_GRACE_SECONDS", "5")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    j = UploadJanitor(uploads=list)
    assert (j.unused_seconds, j.max_bytes, j.grace_seconds) == (45, 1 << 20, 5)
    assert j.folder == str(tmp_path / "gradio")

    monkeypatch.setenv("CYCLEGAN_APP_UPLOAD_CACHE_BYTES", "lots")
    with pytest.raises(ValueError, match="CYCLEGAN_APP_UPLOAD_CACHE_BYTES"):
        UploadJanitor(uploads=list)


# --- a real Gradio app ---


@pytest.fixture
def upload_folder(tmp_path, monkeypatch):
    """Gradio's upload folder for this test; set before any Blocks is built or launched."""
    folder = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def launch(demo, **options) -> str:
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **options)
    return url


def upload(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/gradio_api/upload", files=[("files", (name, data, "application/octet-stream"))])


def test_an_upload_posted_without_the_page_is_swept_away(upload_folder):
    import gradio as gr

    with gr.Blocks() as demo:
        gr.Markdown("nothing to see")
    j = UploadJanitor.for_blocks(demo, unused_seconds=60, grace_seconds=0)
    url = launch(demo)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            response = upload(client, "stranger.bin", b"x" * 4096)
        assert response.status_code == 200
        stored = Path(response.json()[0])
        assert stored.is_file() and stored.parent.parent == upload_folder and stored.read_bytes() == b"x" * 4096
        assert str(stored) in demo.upload_file_set

        assert j.sweep(now=time.time() + 30).removed == 0  # not yet a minute old
        swept = j.sweep(now=time.time() + 61)

        assert not stored.exists() and not stored.parent.exists()
        assert swept.removed == 1 and swept.freed == 4096
    finally:
        demo.close()


def test_uploads_named_by_events_stay_and_kept_files_survive_the_budget(upload_folder, tmp_path):
    import gradio as gr

    default = tmp_path / "default.txt"  # a component's value: Gradio keeps its cached copy for the page
    default.write_text("the page needs me")
    release, holding, took = threading.Event(), threading.Event(), []

    def hold():
        holding.set()
        release.wait(20)
        return "held"

    def take(f):
        took.append(f)
        return "took"

    with gr.Blocks() as demo:
        given = gr.File()
        gr.File(value=str(default))
        out = gr.Textbox()
        gr.Button().click(hold, None, out, concurrency_id="one")  # fn_index 0
        gr.Button().click(take, given, out, concurrency_id="one")  # fn_index 1: waits behind hold
    demo.queue(default_concurrency_limit=1)
    j = UploadJanitor.for_blocks(demo, unused_seconds=60, grace_seconds=0)
    url = launch(demo)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            named, ignored = (Path(upload(client, n, n.encode() * 100).json()[0]) for n in ("named.png", "x.png"))
            join = {"event_data": None, "trigger_id": None}
            assert client.post("/gradio_api/queue/join", json={**join, "data": [], "fn_index": 0,
                                                               "session_hash": "holder"}).status_code == 200
            assert holding.wait(10)
            payload = {"path": str(named), "meta": {"_type": "gradio.FileData"}}
            assert client.post("/gradio_api/queue/join", json={**join, "data": [payload], "fn_index": 1,
                                                               "session_hash": "waiter"}).status_code == 200

            j.sweep(now=time.time() + 3600)  # the event naming it is still waiting in the queue
            assert named.exists() and not ignored.exists()

            release.set()
            deadline = time.monotonic() + 10
            while not took and time.monotonic() < deadline:
                time.sleep(0.02)
            assert took and Path(took[0]).name == "named.png"
            j.sweep(now=time.time() + 3600)  # the event is over; its component took the file in
            assert named.exists()

            kept = [Path(p) for b in demo.blocks.values() for p in getattr(b, "keep_in_cache", ())]
            assert kept and all(p.read_text() == "the page needs me" for p in kept)
            j.max_bytes = 0
            j.sweep(now=time.time() + 3600)  # over budget: everything else may go, never those
            assert not named.exists()
            assert all(p.exists() for p in kept)
    finally:
        release.set()
        demo.close()


def test_the_gate_answers_507_when_an_upload_would_overfill_the_cache(upload_folder):
    import gradio as gr
    from fastapi import Depends

    with gr.Blocks() as demo:
        gr.Markdown("nothing to see")
    UploadJanitor.for_blocks(demo, max_bytes=12_000, grace_seconds=30)
    url = launch(demo, app_kwargs={"dependencies": [Depends(uploads.UploadGate())]})
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            first = upload(client, "one.bin", b"1" * 5000)
            second = upload(client, "two.bin", b"2" * 5000)
            third = upload(client, "three.bin", b"3" * 5000)  # 15 kB would be over: refused before it is read

        assert first.status_code == 200 and second.status_code == 200
        assert third.status_code == 507 and third.json()["detail"] == uploads.FULL
        assert sorted(p.name for p in upload_folder.glob("*/*.bin")) == ["one.bin", "two.bin"]
        assert not [p for p in upload_folder.iterdir() if p.is_file()]  # no partial upload either
    finally:
        demo.close()
