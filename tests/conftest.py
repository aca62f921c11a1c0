import atexit
import contextlib
import io
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's upload cache, the tests' own: the shared /tmp/gradio keeps what earlier runs left (every
# run's uploads and results), and the app's upload budget counts it (a full one answers 507).
_GRADIO_CACHE = tempfile.mkdtemp(prefix="cyclegan-tests-gradio-")
os.environ["GRADIO_TEMP_DIR"] = _GRADIO_CACHE
atexit.register(shutil.rmtree, _GRADIO_CACHE, ignore_errors=True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import cyclegan_core  # noqa: E402
from cyclegan_core import CycleGAN, ModelConfig, save_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent  # the repository

# Tiny training settings (`TrainConfig(**TINY)`): one residual block, 2-layer discriminators, 32² crops in
# fp32 (pictures loaded at 36 px, what crop size 32 implies: `load_size_for(32)`; a changed crop size
# brings its own).
TINY = dict(ngf=8, n_blocks=1, ndf=8, n_layers_D=2, crop_size=32, precision="fp32", pool_size=4)
TINY_POOL_2 = {**TINY, "pool_size": 2}  # an image pool that is full after two steps (tests/test_training_state.py)

RED, BLUE = (1.0, 0.4, 0.4), (0.4, 0.4, 1.0)  # the tints of noise pictures that make two domains


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def run_cli(*args) -> subprocess.CompletedProcess:
    """`python -m cyclegan_core ARGS` run in this process (`cli.main`, what `__main__` calls), with its exit
    code, stdout and stderr as a finished process would give them; an exception the CLI does not turn
    into a message fails the test. Tests of the program itself (its start, signals, a kill, several
    processes) launch it with `subprocess`; the rest save the 3 s a Python process takes to start."""
    from cyclegan_core.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse: --help, bad arguments
            code = e.code if isinstance(e.code, int) else 1
    return subprocess.CompletedProcess(["python", "-m", "cyclegan_core", *map(str, args)], code, out.getvalue(),
                                       err.getvalue())


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Name look-ups for anything but loopback fail, and the test fails: no test may reach out."""
    real = socket.getaddrinfo
    attempts = []

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOOPBACK:
            attempts.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"tests reach loopback only, not {name}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield
    assert not attempts, f"the test tried to reach {sorted(set(attempts))}"


@pytest.fixture(autouse=True)
def offline_sandbox(tmp_path_factory, monkeypatch):
    """Every test gets its own weights/ and Hub cache, and every remote points at loopback."""
    import huggingface_hub.constants as hf

    root = tmp_path_factory.mktemp("sandbox")
    monkeypatch.setenv("CYCLEGAN_WEIGHTS_DIR", str(root / "weights"))
    monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", closed_port_url())
    monkeypatch.delenv("CYCLEGAN_HUB_REPO", raising=False)
    monkeypatch.delenv("CYCLEGAN_MAX_PIXELS", raising=False)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(root / "hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", False)
    return root


@pytest.fixture
def tiny_config():
    return ModelConfig(ngf=8, n_blocks=2, domain_a="apple", domain_b="orange", image_size=32)


@pytest.fixture
def tiny_model(tiny_config):
    torch.manual_seed(0)
    return CycleGAN(tiny_config)


@pytest.fixture
def tiny_model_dir(tiny_model, tmp_path):
    return save_model(tiny_model, tmp_path / "tiny-model")


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: steadier than two on a 2-core machine that others share."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def noise_pictures(folder: Path, counts: dict[str, int], size: tuple[int, int] = (80, 72), tints: dict | None = None,
                   seed: int = 0, subfolders: bool = False) -> dict[str, list[Path]]:
    """`counts[key]` noise PNGs of `size` (width, height) per domain key, drawn in order from one
    seeded generator, as `folder/{key}{i}.png` (or `folder/{key}/{i}.png` with `subfolders`). With
    `tints`, each domain's pixels are scaled by its (r, g, b) factors (say, reddish and bluish)."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3)
    paths: dict[str, list[Path]] = {}
    for key, count in counts.items():
        if subfolders:
            (folder / key).mkdir(parents=True)
        paths[key] = []
        for i in range(count):
            path = folder / key / f"{i}.png" if subfolders else folder / f"{key}{i}.png"
            if tints:
                pixels = (rng.integers(0, 256, shape) * np.array(tints[key])).astype(np.uint8)
            else:
                pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels).save(path)
            paths[key].append(path)
    return paths


@pytest.fixture
def uploads(tmp_path) -> dict[str, list[str]]:
    """Two unpaired domains of noise photos as a visitor would upload them: 3 for A, 2 for B (paths)."""
    return {key: [str(p) for p in paths] for key, paths in noise_pictures(tmp_path, {"a": 3, "b": 2}).items()}


@pytest.fixture
def tinted_uploads(tmp_path) -> dict[str, list[str]]:
    """Three reddish noise photos for A, three bluish ones for B (paths)."""
    pictures = noise_pictures(tmp_path, {"a": 3, "b": 3}, tints={"a": RED, "b": BLUE})
    return {key: [str(p) for p in paths] for key, paths in pictures.items()}


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A real photo (scikit-image's astronaut, 512×512), cropped to an odd size."""
    from skimage import data

    return Image.fromarray(data.astronaut()).crop((40, 20, 341, 177))  # 301×157


def psnr(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.fixture(scope="session")
def psnr_fn():
    return psnr


assert cyclegan_core  # imported above so a broken package fails collection loudly


@pytest.fixture(scope="session")
def trained_generator_path():
    """A real trained 9-block CycleGAN generator (vintagify's modern→vintage, a runtime dependency, MIT licence;
    affine InstanceNorm, `block` naming). Needed where random weights would prove nothing."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("vintagify")
    if spec is None or not spec.submodule_search_locations:
        if os.environ.get("CI"):
            pytest.fail("vintagify (a runtime requirement carrying trained weights) is not installed")
        pytest.skip("vintagify is not installed (pip install -r requirements.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "resources" / "G_A2B_epoch33.pth"


@pytest.fixture(scope="session")
def trained_model(trained_generator_path, tmp_path_factory):
    """The trained generator of `trained_generator_path`, converted into a one-way model folder and loaded."""
    from cyclegan_core import convert_official

    return convert_official(trained_generator_path, None, tmp_path_factory.mktemp("trained") / "v")


@pytest.fixture(scope="session")
def toy_red_blue(tmp_path_factory) -> Path:
    """The Learn tab's default toy model (red shapes → blue shapes), trained once for the session: 90
    steps (≈ 12 s on 2 cores; it shows the task by 60), a step count rather than the app's time limit,
    so a busy machine gets the same model. Its folder is `<root>/.toy/red_blue`, as in the store."""
    from cyclegan_core.teaching.toy_models import make_toy_model

    return make_toy_model("red_blue", tmp_path_factory.mktemp("toy") / ".toy" / "red_blue", steps=90, seconds=600)


def official_pth_bytes(seed: int, ngf: int = 8, n_blocks: int = 2) -> bytes:
    """A generator file in the official format (legacy keys included), as bytes."""
    import io

    from reference import official_state_dict

    buffer = io.BytesIO()
    torch.save(official_state_dict(ngf=ngf, n_blocks=n_blocks, seed=seed), buffer)
    return buffer.getvalue()


@pytest.fixture
def zoo_upstream(offline_sandbox, monkeypatch):
    """A loopback stand-in for the official weights server, with tiny generators for the whole zoo."""
    from servers import FakeUpstream

    names = ["horse2zebra", "zebra2horse", "summer2winter_yosemite", "winter2summer_yosemite"]
    files = {f"{name}.pth": official_pth_bytes(seed) for seed, name in enumerate(names)}
    with FakeUpstream(files) as upstream:
        monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", upstream.url)
        yield upstream


@pytest.fixture
def launch_app(offline_sandbox, monkeypatch):
    """Launches the app as `python app.py` builds it (`build_demo()`), in this process on 127.0.0.1, and
    returns its URL; every app it launched is closed after the test (before the sandbox and the
    test's environment changes are undone)."""
    from demo import build_demo, launch_options

    launched = []

    def launch(**build_options) -> str:
        demo = build_demo(**build_options)
        launched.append(demo)
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
        return url

    yield launch
    for demo in reversed(launched):
        demo.close()


@pytest.fixture
def app_url(zoo_upstream, launch_app):
    """The app, launched in this process on 127.0.0.1 (zoo served by `zoo_upstream`)."""
    return launch_app()


@pytest.fixture
def client(app_url):
    """A program calling the app (`app_url`) through gradio_client."""
    from gradio_client import Client

    return Client(app_url, analytics_enabled=False, verbose=False)


@pytest.fixture
def launch_slow_app(monkeypatch, tiny_model, launch_app):
    """Launches the app with a tiny model "fruit" in the store and a Translate that takes `seconds`
    longer, so that jobs pile up; visitors are told apart by X-Forwarded-For. Returns (url, running):
    how many translations run now, the most that ran at once, and how many are done."""
    import threading
    import time

    from cyclegan_core import ModelStore
    from demo import translate_tab

    def launch(seconds: float = 1.0, max_jobs: int = 3, max_address_jobs: int = 4) -> tuple[str, dict]:
        real = translate_tab.TranslateHandlers.translate
        running = {"now": 0, "most": 0, "done": 0}
        lock = threading.Lock()

        def slow(self, *args, **kwargs):
            with lock:
                running["now"] += 1
                running["most"] = max(running["most"], running["now"])
            try:
                time.sleep(seconds)
                return real(self, *args, **kwargs)
            finally:
                with lock:
                    running["now"] -= 1
                    running["done"] += 1

        monkeypatch.setattr(translate_tab.TranslateHandlers, "translate", slow)
        monkeypatch.setenv("CYCLEGAN_APP_MAX_JOBS", str(max_jobs))
        monkeypatch.setenv("CYCLEGAN_APP_MAX_ADDRESS_JOBS", str(max_address_jobs))
        monkeypatch.setenv("CYCLEGAN_FORWARDED_FOR", "1")
        save_model(tiny_model, ModelStore().root / "fruit")
        return launch_app(), running

    return launch


@pytest.fixture
def slow_app(launch_slow_app):
    """`launch_slow_app()` with its defaults: translations take a second; 3 jobs per session, 4 per address."""
    return launch_slow_app()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"


# Recorded in the page (an init script, so from its first request on, again after every reload): each queued
# event the page joins (`events`; `joined`: fn_index → its latest event_id; `refused`: fn_index → the
# status of a refused join; `joining`: joins not yet answered) and each event whose `process_completed`
# message the page has received.
QUEUE_WATCH_JS = """(() => {
  const queue = window.__queue_watch = {joining: 0, joined: {}, refused: {}, events: [], completed: new Set()};
  const fetch = window.fetch;
  window.fetch = async function (input, init) {
    const url = String(input instanceof Request ? input.url : input);
    const joining = url.includes("/queue/join");
    const body = !joining ? "" : init && typeof init.body === "string" ? init.body
                               : input instanceof Request ? await input.clone().text() : "";
    if (joining) queue.joining += 1;  // until its answer is read
    const response = await fetch.call(this, input, init).catch(error => {
      if (joining) queue.joining -= 1;
      throw error;
    });
    if (joining) {
      const fn = JSON.parse(body).fn_index;
      response.clone().json().catch(() => ({})).then(answer => {
        if (answer.event_id) {
          queue.joined[fn] = answer.event_id;
          queue.events.push(answer.event_id);
        } else {
          queue.refused[fn] = response.status;  // refused at the door (say, 429): it will not run
        }
      }).finally(() => { queue.joining -= 1; });
    } else if (url.includes("/queue/data") && response.body) {
      (async () => {  // a copy of the stream the page reads, read alongside it
        const reader = response.clone().body.pipeThrough(new TextDecoderStream()).getReader();
        let rest = "";
        for (;;) {
          const {value, done} = await reader.read().catch(() => ({done: true}));
          if (done) break;
          const lines = (rest + value).split("\\n");
          rest = lines.pop();
          for (const line of lines.filter(line => line.startsWith("data:"))) {
            const message = JSON.parse(line.slice(5));
            if (message.msg === "process_completed") queue.completed.add(message.event_id);
          }
        }
      })();
    }
    return response;
  };
})();"""


def watch_queue(page) -> None:
    """Record the page's queued events (QUEUE_WATCH_JS) from its next navigation on (`browser_page` does)."""
    page.add_init_script(QUEUE_WATCH_JS)


def wait_for_page_load_events(page, timeout: float = 60_000) -> None:
    """Wait until every queued event the page load triggers (the app's `demo.load(...).then(...)`s: each
    tab's lists for this visitor, Stop's visibility) has completed in the page, or was refused at the
    door (the job limits: say, while a run of the same address trains): a negative assertion after it
    sees what the load decided rather than the page as built. Needs `watch_queue`."""
    page.wait_for_function("""() => {
        const queue = window.__queue_watch, config = window.gradio_config;
        if (!queue || !config) return false;
        const load = new Set(config.dependencies.filter(d => d.targets.some(t => t[1] === "load")).map(d => d.id));
        const events = config.dependencies.filter(d => load.has(d.trigger_after) && d.queue !== false);
        return events.length > 0
               && events.every(d => queue.completed.has(queue.joined[d.id]) || d.id in queue.refused);
    }""", timeout=timeout)


def wait_for_queue_idle(page, timeout: float = 60_000) -> None:
    """Wait until every queued event the page has joined has completed in the page (its last message is
    in): nothing it started can still change the page. Needs `watch_queue`."""
    page.wait_for_function("""() => {
        const queue = window.__queue_watch;
        return !!queue && queue.joining === 0 && queue.events.every(id => queue.completed.has(id));
    }""", timeout=timeout)


@pytest.fixture
def browser_page(request):
    """A page in Debian's headless Chromium driven by playwright. Outside CI a missing browser
    skips; in CI (CI=true) it fails. Every URL the page requests is recorded in `page.requested`, and its
    queued events as `watch_queue` records them. `@pytest.mark.chromium_args([...])` adds arguments."""
    if not os.path.exists(CHROMIUM) or __import__("importlib").util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need {CHROMIUM} and playwright (.ci/run installs both)")
        pytest.skip("chromium or playwright not installed")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        extra = request.node.get_closest_marker("chromium_args")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + (extra.args[0] if extra else []))
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        watch_queue(page)
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        page.set_default_timeout(60_000)
        yield page
        browser.close()
