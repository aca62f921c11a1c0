"""A class on one small machine: N visitors (30 by default) each translate a 2 MP photo at once.

The app runs as a Space runs it (`python app.py`, in a process of its own whose CPU time is read from
/proc), each visitor from an address of its own (`X-Forwarded-For`, trusted as on a Space).

- **Server path**: each visitor calls the `translate` API (`gradio_client`) at the same moment;
  printed: the time to the first and to the last result, and the server's CPU-seconds per visitor.
- **Browser path**: each visitor does what the page does on the server when the picture is
  translated on their device (`demo/device.py`): upload the picture, ask for the model file (the
  `model_on_page` event through the queue) and download it (the first time on that device); the
  translation itself runs on the visitor's device and is not part of the server's work. Printed: the
  time until every visitor has the model, the bytes served and the server's CPU-seconds per visitor.
  (Whether a device takes a 2 MP photo depends on its speed: `device.js` sends it to the server when
  it expects more than 20 s there, as for one WebAssembly thread; WebGPU takes it.)

    python benchmarks/classroom.py [--visitors 30] [--megapixels 1.9] [--paths server browser]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cyclegan_core.engine.runtime import cpu_class  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_app(weights: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "CYCLEGAN_FORWARDED_FOR": "1", "CYCLEGAN_WEIGHTS_DIR": str(weights),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    import httpx
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return app, url
        except httpx.HTTPError:
            time.sleep(0.5)
    app.kill()
    raise SystemExit("the app did not start")


def photo(megapixels: float, folder: Path) -> Path:
    from PIL import Image
    from skimage import data
    side = (megapixels * 1e6 / 12) ** 0.5
    size = (int(side * 4), int(side * 3))
    path = folder / "class-photo.jpg"
    Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC).save(path, quality=92)
    return path


def together(visitors: int, work) -> list[float]:
    """`work(i)` for every visitor at once (threads released together); seconds to each one's end."""
    start = threading.Barrier(visitors + 1)
    done: list[float] = []
    errors: list[BaseException] = []
    began = [0.0]

    def one(i):
        start.wait()
        try:
            work(i)
            done.append(time.perf_counter() - began[0])
        except BaseException as e:  # noqa: BLE001 — reported below
            errors.append(e)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(visitors)]
    for t in threads:
        t.start()
    began[0] = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} visitors failed; the first: {errors[0]!r}")
    return sorted(done)


def server_path(url: str, picture: Path, visitors: int, task: str) -> list[float]:
    from gradio_client import Client, handle_file
    clients = [Client(url, analytics_enabled=False, verbose=False, headers={"X-Forwarded-For": f"10.1.0.{i + 1}"})
               for i in range(visitors)]
    return together(visitors, lambda i: clients[i].predict(handle_file(str(picture)), task, api_name="/translate"))


def browser_path(url: str, picture: Path, visitors: int, task: str) -> tuple[list[float], int]:
    import httpx
    config = httpx.get(url + "config").json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "model_on_page")
    served = [0]
    lock = threading.Lock()

    def visit(i):
        headers = {"X-Forwarded-For": f"10.2.0.{i + 1}"}
        with httpx.Client(base_url=url + "gradio_api/", headers=headers, timeout=600) as http:
            with picture.open("rb") as f:
                uploaded = http.post("upload", files={"files": (picture.name, f, "image/jpeg")}).json()[0]
            image = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
            session = f"classroom{i}"
            joined = http.post("queue/join", json={"data": [image, task, None, None], "fn_index": fn_index,
                                                   "session_hash": session})
            joined.raise_for_status()
            model = None
            with http.stream("GET", "queue/data", params={"session_hash": session}) as stream:
                for line in stream.iter_lines():
                    message = json.loads(line[5:]) if line.startswith("data:") else {}
                    if message.get("msg") == "process_completed":
                        output = message.get("output", {}).get("data") or []
                        model = output[0] if output else None
                        break
            if not model or not isinstance(model, dict) or not model.get("url"):
                raise RuntimeError(f"no model file in the answer: {message}")
            size = len(http.get(model["url"]).content)
            with lock:
                served[0] += size + picture.stat().st_size
    return together(visitors, visit), served[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=30)
    parser.add_argument("--megapixels", type=float, default=1.9)
    parser.add_argument("--paths", nargs="+", choices=["server", "browser"], default=["server", "browser"])
    args = parser.parse_args()
    from demo.translate_tab import DEFAULT_TASK
    with tempfile.TemporaryDirectory() as folder:
        picture = photo(args.megapixels, Path(folder))
        app, url = start_app(Path(folder) / "weights")
        try:
            from gradio_client import Client, handle_file
            Client(url, analytics_enabled=False, verbose=False).predict(  # one warm-up: the model loaded
                handle_file(str(picture)), DEFAULT_TASK, api_name="/translate")
            from PIL import Image
            with Image.open(picture) as p:
                size = p.size
            print(f"machine: {cpu_class()}, {os.cpu_count()} CPUs; app: python app.py; task: {DEFAULT_TASK}; "
                  f"{args.visitors} visitors at once, each a {size[0]}×{size[1]} photo "
                  f"({size[0] * size[1] / 1e6:.1f} MP, {picture.stat().st_size / 1e6:.2f} MB)")
            for path in args.paths:
                before = cpu_seconds(app.pid)
                if path == "server":
                    times = server_path(url, picture, args.visitors, DEFAULT_TASK)
                    extra = ""
                else:
                    times, served = browser_path(url, picture, args.visitors, DEFAULT_TASK)
                    extra = f" · served {served / 1e6:.0f} MB ({served / 1e6 / args.visitors:.1f} MB per visitor)"
                used = cpu_seconds(app.pid) - before
                print(f"{path:>7} path: first done after {times[0]:.1f} s, last after {times[-1]:.1f} s · "
                      f"server CPU {used:.1f} s ({used / args.visitors:.2f} s per visitor){extra}", flush=True)
        finally:
            app.terminate()
            app.wait(30)


if __name__ == "__main__":
    main()
