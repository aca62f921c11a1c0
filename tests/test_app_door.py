"""The whole door of a public Space (demo/door.py): every event the app has, public or private, on every
Gradio route, with hostile payloads; the job limits on every route; one address flooding the queue;
a decompression bomb; the store's secret and forged visitor tokens. Raw HTTP, as a stranger would."""

import hashlib
import json
import os
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
import struct
from pathlib import Path

import httpx
import pytest
from PIL import Image

from cyclegan_core import CycleGANTrainer, ModelStore, TrainConfig, save_model
from demo.visitors import visitor_id

# One client for every request: a new httpx client loads the system's CA certificates (≈ 30 ms of CPU
# that the app under test would wait for). No keep-alive, so no connection outlives its test's server.
HTTP = httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
MARKER = "S3RV3R-F1LE-M4RK3R"
INTERNALS = ("Traceback", "pydantic", "errors.pydantic.dev", "KeyError", "IndexError", "TypeError", "ValueError",
             "AttributeError", "Exception", "site-packages", "/tmp/", "/etc/", "/root", MARKER, "root:x:0:0")


def event_stream(url: str, session: str, timeout: float = 60,
                 until: tuple[str, ...] = ("process_completed", "close_stream", "unexpected_error")) -> list[dict]:
    """The queue's messages for `session` until one of `until` (by default: its job completes)."""
    messages = []
    with HTTP.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session},
                      timeout=timeout) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                messages.append(json.loads(line[5:]))
                if messages[-1].get("msg") in until:
                    break
    return messages


def drain(url: str, session: str) -> list[dict]:
    """All the queue's messages for `session` until the queue closes its stream (every job delivered)."""
    return event_stream(url, session, until=("close_stream",))


def call_stream(url: str, name: str, event_id: str, timeout: float = 60) -> str:
    with HTTP.stream("GET", f"{url}gradio_api/call/{name}/{event_id}", timeout=timeout) as response:
        return "".join(line + "\n" for line in response.iter_lines())


def normal(data) -> str:
    """`data` without what differs between any two answers: fresh visitor tokens, event ids."""
    if isinstance(data, dict):
        return "{" + ",".join(f"{k}:{normal(v)}" for k, v in sorted(data.items())) + "}"
    if isinstance(data, list):
        return "[" + ",".join(normal(v) for v in data) + "]"
    if isinstance(data, str) and len(data) >= 32 and " " not in data:
        return "<random>"
    return json.dumps(data)


def outcome(messages: list[dict]) -> tuple:
    """What an answer says, without the ids and timings that differ between any two answers."""
    done = [m for m in messages if m.get("msg") == "process_completed"]
    if not done:
        return ("no completion", tuple(m.get("msg") for m in messages))
    output = done[-1].get("output") or {}
    return (done[-1].get("success"), output.get("error"), normal(output.get("data"))[:2000])


@pytest.fixture
def door_app(monkeypatch, tiny_model, offline_sandbox, tmp_path, launch_app):
    """The app with an owner's model, another visitor's run (kept uploads, previews) and marked server
    files outside the upload cache."""
    monkeypatch.setenv("CYCLEGAN_LEARN_D_SECONDS", "1")
    store = ModelStore()
    save_model(tiny_model, store.root / "owners")
    victim = store.new_run("victims-run")
    photo = tmp_path / "private.png"
    image = Image.new("RGB", (16, 16), "purple")
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", MARKER)
    image.save(photo, pnginfo=info)
    victim.keep_data("A", [photo])
    config = TrainConfig(steps=1, ngf=8, n_blocks=2, precision="fp32")
    victim.write_record(config, victim.path / "data" / "A", victim.path / "data" / "A", owner=visitor_id("victim"))
    victim.save(CycleGANTrainer(tiny_model, config), [])
    secret_text = tmp_path / "secret.txt"
    secret_text.write_text(MARKER * 4)
    return launch_app(), {"kept upload": next((victim.path / "data" / "A").iterdir()), "text": secret_text,
                          "victim": victim.path}, store


def folder_hashes(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_attack_matrix_every_event_every_route(door_app, tmp_path, monkeypatch):
    """Every event in /config, public or private, on every route it can be reached by, with every class of
    hostile payload in every input: no byte of a server file comes back, an existing and a missing path
    answer alike, nothing internal shows, other visitors are still answered meanwhile, and the owner's
    model and the other visitor's run are untouched."""
    monkeypatch.setenv("CYCLEGAN_APP_MAX_JOBS", "64")  # a batch of payloads per event joins at once
    monkeypatch.setenv("CYCLEGAN_APP_MAX_ADDRESS_JOBS", "256")  # two strangers, one loopback address
    url, files, store = door_app
    owners_before = folder_hashes(store.root / "owners")
    config = HTTP.get(f"{url}config").json()
    events = config["dependencies"]
    assert len(events) >= 40, len(events)
    missing = tmp_path / "no-such-file.png"
    existing = files["kept upload"]
    meta = {"_type": "gradio.FileData"}
    # Pairs that must answer alike (an existing and a missing server file), then the other classes.
    paired = {
        "path+meta": ({"path": str(existing), "meta": meta}, {"path": str(missing), "meta": meta}),
        "path": ({"path": "/etc/passwd"}, {"path": "/etc/no-such-file"}),
        "plain string": (str(existing), str(missing)),
    }
    others = {"64 kB": "x" * 65536, "foreign run": "victims-run", "foreign task": "victims-run:AtoB",
              "forged token": "forged-token.0123456789abcdef", "wrong type": {"a": [1, 2]}}
    payloads = [(f"{name} {i}", payload) for name, pair in paired.items() for i, payload in enumerate(pair)]
    payloads += list(others.items())
    probes = []

    restore = next(e["id"] for e in events if e.get("api_name") == "restore")

    def probe_loop(stop):
        """Other requests are answered while the matrix runs: a newcomer's page load."""
        while not stop.is_set():
            r = HTTP.post(f"{url}gradio_api/run/predict", timeout=30,
                           json={"data": [""], "fn_index": restore, "session_hash": "newcomer"})
            probes.append(r.status_code)
            stop.wait(0.2)

    def answers(event, route, batch) -> dict[str, tuple[str, tuple]]:
        """Each payload class of `batch` sent to `event` through `route`: (the whole answer's text, what
        it says). The queue routes send the whole batch, then read the answers as they come."""
        http = HTTP
        data = {name: [payload] * len(event["inputs"]) for name, payload in batch}
        found = {}
        if route == "run/predict":
            for name, inputs in data.items():
                r = http.post(f"{url}gradio_api/run/predict",
                              json={"data": inputs, "fn_index": event["id"], "session_hash": "direct"})
                answer = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
                said = normal(answer.get("data") if isinstance(answer, dict) and "data" in answer else answer)
                found[name] = (r.text, (r.status_code, said))
        elif route == "queue/join":
            session, sent = f"matrix{event['id']}", {}
            for name, inputs in data.items():
                r = http.post(f"{url}gradio_api/queue/join",
                              json={"data": inputs, "fn_index": event["id"], "session_hash": session})
                if r.status_code != 200:
                    found[name] = (r.text, (r.status_code,))
                else:
                    sent[r.json()["event_id"]] = (name, r.text)
            with http.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}) as stream:
                for line in stream.iter_lines() if sent else ():
                    message = json.loads(line[5:]) if line.startswith("data:") else {}
                    if message.get("msg") == "process_completed" and message.get("event_id") in sent:
                        name, text = sent.pop(message["event_id"])
                        found[name] = (text + json.dumps(message), outcome([message]))
                    if not sent or message.get("msg") == "close_stream":
                        break
            assert not sent, (event["api_name"], sent)
        else:
            sent = {}
            for name, inputs in data.items():
                r = http.post(f"{url}gradio_api/call/{event['api_name']}", json={"data": inputs})
                if r.status_code != 200:
                    found[name] = (r.text, (r.status_code,))
                else:
                    sent[name] = r.json()["event_id"]

            def read(name):  # each answer read as it comes, all at once
                streamed = call_stream(url, event["api_name"], sent[name])
                said = streamed.split("data:", 1)[-1].strip()
                try:
                    said = normal(json.loads(said))
                except ValueError:
                    pass
                found[name] = (streamed, (streamed.split("\n", 1)[0], said[:2000]))

            with ThreadPoolExecutor(len(sent) or 1) as readers:
                list(readers.map(read, sent))
        return found

    def attack(event, route) -> int:
        found = {}
        for batch in (payloads[:6], payloads[6:]):  # at most 2 × 6 jobs in the queue (it holds 32)
            found.update(answers(event, route, batch))
        for name, (text, _) in found.items():
            for internal in INTERNALS:
                assert internal not in text, (event["api_name"], route, name, internal, text[:300])
            assert "x" * 1000 not in text and "victims-run:AtoB" not in text.replace("\\", ""), \
                (event["api_name"], route, name)  # nothing long echoed; no foreign task answered
        for name in paired:
            assert found[f"{name} 0"][1] == found[f"{name} 1"][1], (event["api_name"], route, name, found[f"{name} 0"][1],
                                                                   found[f"{name} 1"][1])
        return len(found)

    plan = []
    for event in events:
        plan.append((event, "run/predict"))
        if event.get("queue") is not False:
            plan.append((event, "queue/join"))
        if event.get("api_name") and event.get("api_visibility") != "undocumented":
            plan.append((event, "call"))
    stop = threading.Event()
    prober = threading.Thread(target=probe_loop, args=(stop,), daemon=True)
    prober.start()
    try:
        with ThreadPoolExecutor(2) as pool:  # two strangers at once
            tried = sum(pool.map(lambda job: attack(*job), plan))
    finally:
        stop.set()
        prober.join(timeout=30)
    assert probes and set(probes) == {200}, probes  # a newcomer's page load was answered throughout
    assert folder_hashes(store.root / "owners") == owners_before  # the owner's model kept every byte
    assert (files["victim"] / "data" / "A").is_dir()  # the other visitor's run is still there
    print(f"{len(events)} events on {len(plan)} routes, {tried} hostile requests; {len(probes)} page loads answered "
          f"meanwhile")


@pytest.mark.parametrize("path", ["/etc/passwd", "/tmp/gradio/../../etc/passwd", "{cache}/../x.png", "{cache}/x/../../x",
                                  "{cache}/link/secret.txt", "relative/../../../etc/passwd", "", "{cache}/\x00.png",
                                  "http://127.0.0.1:1/x.png", "{cache}"])
def test_a_file_is_received_only_from_the_upload_cache(path, tmp_path):
    """`EventGuard.received`: inside the cache lexically and after resolving links, and a file there."""
    import gradio as gr
    from demo.door import EventGuard, WorkLedger
    cache = tmp_path / "cache"
    (cache / "ok").mkdir(parents=True)
    (cache / "ok" / "x.png").write_bytes(b"png")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(MARKER)
    (cache / "link").symlink_to(outside)
    guard = EventGuard(gr.Blocks(), WorkLedger(), upload_folder=str(cache))
    assert guard.received({"path": str(cache / "ok" / "x.png")}) == str((cache / "ok" / "x.png").resolve())
    with pytest.raises(gr.Error, match="not uploaded to this app"):
        guard.received({"path": path.format(cache=cache)})


def test_no_monitoring_page_and_no_summary_of_every_event(offline_sandbox):
    """Gradio's /monitoring (every event's timing and success rate) is off, and the queue does not
    summarise all kept events after each one for it (a pandas pass that would cost every visitor)."""
    from demo import build_demo, launch_options
    app = build_demo()
    _, url, _ = app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    try:
        for path in ("monitoring", "monitoring/summary"):
            r = HTTP.get(f"{url}{path}")
            assert r.status_code == 403 and "not enabled" in r.text, (path, r.status_code)
        # Gradio's queue summarises after every N events, N read from the environment when it is made.
        assert int(os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"]) >= 2**62
    finally:
        app.close()


def test_malformed_requests_get_a_clean_4xx(door_app, capfd):
    url, _, _ = door_app
    config = HTTP.get(f"{url}config").json()
    translate = next(e for e in config["dependencies"] if e.get("api_name") == "translate")
    bad = [
        ("queue/join", {"data": [None] * 4, "fn_index": translate["id"], "session_hash": ""}),
        ("queue/join", {"data": [None] * 4, "fn_index": translate["id"]}),
        ("queue/join", {"data": [None] * 4, "fn_index": translate["id"], "session_hash": "../x"}),
        ("queue/join", {"data": [None] * 4, "fn_index": translate["id"], "session_hash": 7}),
        ("queue/join", {"data": "x", "fn_index": translate["id"], "session_hash": "abc"}),
        ("queue/join", {"data": [], "fn_index": 99999, "session_hash": "abc"}),
        ("queue/join", {"data": [], "fn_index": "a", "session_hash": "abc"}),
        ("queue/join", ["not", "an", "object"]),
        ("run/predict", {"data": [], "fn_index": -5, "session_hash": "abc"}),
        ("call/no_such_event", {"data": []}),
        ("queue/join", {"data": ["y" * 300_000], "fn_index": translate["id"], "session_hash": "abc"}),
    ]
    for route, body in bad:
        r = HTTP.post(f"{url}gradio_api/{route}", json=body, timeout=10)
        assert 400 <= r.status_code < 500, (route, body if len(str(body)) < 200 else "big", r.status_code)
        for internal in INTERNALS:
            assert internal not in r.text, (route, internal, r.text[:200])
        assert len(r.text) < 300
    r = HTTP.get(f"{url}gradio_api/queue/data", params={"session_hash": ""}, timeout=10)
    assert r.status_code == 400
    assert "Traceback" not in capfd.readouterr().err


def uploaded(url: str, path: Path, headers: dict | None = None) -> dict:
    with open(path, "rb") as f:
        r = HTTP.post(f"{url}gradio_api/upload", files={"files": (path.name, f, "image/png")}, headers=headers or {})
    r.raise_for_status()
    return {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}, "orig_name": path.name}


def translate_fn(url: str) -> int:
    return next(e["id"] for e in HTTP.get(f"{url}config").json()["dependencies"] if e.get("api_name") == "translate")


def test_six_requests_of_one_session_respect_the_job_limit_on_every_route(slow_app, tmp_path):
    url, running = slow_app
    picture = tmp_path / "p.png"
    Image.new("RGB", (20, 12), "red").save(picture)
    file = uploaded(url, picture)
    fn = translate_fn(url)
    data = [file, "fruit:AtoB", None, None]
    answers = {}

    def fire(route, i):
        if route == "queue/join":
            r = HTTP.post(f"{url}gradio_api/queue/join", json={"data": data, "fn_index": fn, "session_hash": "one"},
                           timeout=30)
        elif route == "run/predict":
            r = HTTP.post(f"{url}gradio_api/run/predict", json={"data": data, "fn_index": fn, "session_hash": "one"},
                           timeout=30)
        else:
            r = HTTP.post(f"{url}gradio_api/call/translate", json={"data": data, "session_hash": "one"}, timeout=30)
        answers.setdefault(route, []).append(r.status_code)

    for route in ("queue/join", "run/predict", "call"):
        threads = [threading.Thread(target=fire, args=(route, i)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if route != "run/predict":  # the session reads its results (a job counts until they are delivered)
            drain(url, "one")
    joined, direct, called = answers["queue/join"], answers["run/predict"], answers["call"]
    assert 3 <= joined.count(200) <= 4 and joined.count(429) == 6 - joined.count(200), joined  # 3 waiting (+1 run)
    assert direct == [404] * 6, direct  # a queued event never runs around the queue
    assert 3 <= called.count(200) <= 4 and called.count(429) == 6 - called.count(200), called
    assert running["most"] == 1  # the event's concurrency_limit=1 held on every route
    print(f"queue/join {joined}, run/predict {direct}, call {called}; at most {running['most']} ran at once")


def test_one_address_flooding_the_queue_does_not_keep_another_waiting(slow_app, tmp_path):
    url, running = slow_app
    picture = tmp_path / "p.png"
    Image.new("RGB", (20, 12), "red").save(picture)
    flooder, other = {"X-Forwarded-For": "198.51.100.7, 10.1.1.1"}, {"X-Forwarded-For": "203.0.113.9"}
    file = uploaded(url, picture, flooder)
    fn = translate_fn(url)
    codes = []

    def join(session, headers):
        r = HTTP.post(f"{url}gradio_api/queue/join", headers=headers, timeout=30,
                       json={"data": [file, "fruit:AtoB", None, None], "fn_index": fn, "session_hash": session})
        codes.append(r.status_code)
        return r

    threads = [threading.Thread(target=join, args=(f"flood{i % 10}", flooder)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    admitted = codes.count(200)
    assert admitted <= 4 and codes.count(429) == 50 - admitted, codes
    r = join("polite", other)
    assert r.status_code == 200, r.text
    messages = event_stream(url, "polite")
    ahead = running["done"] - 1  # translations done before the other address's own (done too by now)
    assert outcome(messages)[0] is True, messages[-1]
    # It waited for the work admitted before it at most: none of the refused joins ran ahead of it.
    assert ahead <= admitted, (ahead, admitted)
    print(f"50 joins from one address: {admitted} admitted; the other address was served after {ahead} of them")


def png_of_zeros(side: int) -> bytes:
    """A real PNG side×side of black pixels: a few hundred kB that decode to side² × 3 bytes."""
    raw = zlib.compress(b"".join(b"\x00" + b"\x00" * (side * 3) for _ in range(side)), 9)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_decompression_bomb_is_refused_from_its_header_in_bounded_memory(door_app, tmp_path, monkeypatch):
    from PIL import ImageFile
    url, _, _ = door_app
    bomb = tmp_path / "zeros.png"
    bomb.write_bytes(png_of_zeros(8192))
    assert bomb.stat().st_size < 400_000
    file = uploaded(url, bomb)
    fn = translate_fn(url)
    decoded, real_load = [], ImageFile.ImageFile.load

    def load(image):  # the app runs in this process: any decoding of the bomb's pixels is seen here
        if image.size == (8192, 8192):
            decoded.append(image.size)
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    peak, stop = [resident_bytes()], threading.Event()

    def watch():
        while not stop.is_set():
            peak.append(resident_bytes())
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    r = HTTP.post(f"{url}gradio_api/queue/join", json={"data": [file, "owners:AtoB", None, None], "fn_index": fn,
                                                      "session_hash": "bomb"}, timeout=30)
    messages = event_stream(url, "bomb")
    stop.set()
    watcher.join()
    success, error, _ = outcome(messages)
    assert r.status_code == 200 and success is False and "above the limit" in error, messages[-1]
    assert decoded == []  # refused from the size in its header: not one row of its pixels decoded
    assert max(peak) - peak[0] < 120 * 2**20, (max(peak) - peak[0]) / 2**20  # decoding it would take 200 MB
    print(f"8192² bomb ({bomb.stat().st_size} bytes) refused, "
          f"{(max(peak) - peak[0]) / 2**20:.0f} MB more memory at most: {error}")


def test_the_secret_stays_on_the_server_and_forged_tokens_get_a_fresh_identity(door_app):
    url, _, store = door_app
    secret = (store.root / ".app-secret").read_text().strip()
    assert len(secret) >= 32
    config = HTTP.get(f"{url}config").text
    page = HTTP.get(url).text
    assert secret not in config and secret not in page
    assert HTTP.get(f"{url}gradio_api/runs").status_code == 404  # no run history keeps visitors' work
    restore = next(e["id"] for e in json.loads(config)["dependencies"] if e.get("api_name") == "restore")

    def visit(remembered, session):
        r = HTTP.post(f"{url}gradio_api/run/predict", timeout=10,
                       json={"data": [remembered], "fn_index": restore, "session_hash": session})
        assert r.status_code == 200, r.text
        assert secret not in r.text
        return r.json()["data"]

    # A newcomer is issued a signed token; coming back with it keeps the identity and nothing is echoed.
    _, issued = visit("", "first")
    assert isinstance(issued, str) and "." in issued
    _, again = visit(issued, "second")
    assert issued not in json.dumps(again)
    # Forged values are new visitors: the answer is a fresh signed token, never the forged value.
    token = issued.rsplit(".", 1)[0]
    for forged in (token, token + ".0000", "anything", issued[:-2] + "zz"):
        _, fresh = visit(forged, f"forged{len(forged)}")
        assert isinstance(fresh, str) and fresh != forged and not fresh.startswith(token), fresh
        assert forged not in fresh


def test_the_upload_route_refuses_files_above_the_cap(door_app, tmp_path):
    url, _, _ = door_app
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(101 * 2**20)
    with open(big, "rb") as f:
        r = HTTP.post(f"{url}gradio_api/upload", files={"files": ("big.png", f, "image/png")}, timeout=60)
    assert r.status_code == 413, r.status_code
    cache = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(__import__("tempfile").gettempdir()) / "gradio")
    assert not [p for p in cache.rglob("big.png")]


def test_an_address_that_used_its_minute_of_work_waits(slow_app, tmp_path, monkeypatch):
    """Translation work is booked to the address it was done for; past the budget, joins are refused
    with the time to wait, while another address is still admitted."""
    url, running = slow_app
    monkeypatch.setenv("CYCLEGAN_APP_ADDRESS_WORK_SECONDS", "1")
    picture = tmp_path / "p.png"
    Image.new("RGB", (20, 12), "red").save(picture)
    busy, other = {"X-Forwarded-For": "198.51.100.20"}, {"X-Forwarded-For": "198.51.100.21"}
    file = uploaded(url, picture, busy)
    fn = translate_fn(url)

    def join(session, headers):
        return HTTP.post(f"{url}gradio_api/queue/join", headers=headers, timeout=30,
                          json={"data": [file, "fruit:AtoB", None, None], "fn_index": fn, "session_hash": session})

    assert join("first", busy).status_code == 200
    assert outcome(event_stream(url, "first"))[0] is True  # one second of work, booked to that address
    refused = join("second", busy)
    assert refused.status_code == 429 and "try again in" in refused.json()["detail"], refused.text
    assert join("elsewhere", other).status_code == 200  # another address has its own minute
    assert outcome(event_stream(url, "elsewhere"))[0] is True


def _data_url(picture: Image.Image, kind: str = "JPEG") -> str:
    import base64
    import io
    buffer = io.BytesIO()
    picture.save(buffer, kind)
    return f"data:image/{kind.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_camera_frame_comes_inline_and_is_checked_from_its_header():
    """The webcam section streams frames as data URLs (not uploads): a small JPEG/PNG/WebP passes; what
    is not one, or whose header says it is huge, or carries other fields, is refused before decoding."""
    import base64

    import gradio as gr

    from demo.door import check_stream_frame
    check_stream_frame({"url": _data_url(Image.new("RGB", (640, 480), (10, 200, 30)))})
    check_stream_frame({"url": _data_url(Image.new("RGB", (64, 48)), "PNG")})
    png = bytearray(base64.b64decode(_data_url(Image.new("RGB", (1, 1)), "PNG").split(",", 1)[1]))
    struct.pack_into(">II", png, 16, 3000, 3000)  # IHDR's width and height: 9 MP declared in a tiny file
    struct.pack_into(">I", png, 29, zlib.crc32(bytes(png[12:29])))
    huge = {"url": "data:image/png;base64," + base64.b64encode(bytes(png)).decode()}
    bad = [huge, {"url": "data:image/png;base64,bm90IGEgcGljdHVyZQ=="}, {"url": "data:text/html;base64,PGI+"},
           {"url": _data_url(Image.new("RGB", (8, 8)), "GIF")}, {"url": 5},
           {"url": _data_url(Image.new("RGB", (8, 8))), "path": "/etc/passwd"}, {"url": "data:image/jpeg;base64,%%%"}]
    for value in bad:
        with pytest.raises(gr.Error):
            check_stream_frame(value)
