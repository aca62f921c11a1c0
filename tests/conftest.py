import os
import socket

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import cyclegan_core  # noqa: E402
from cyclegan_core import CycleGAN, ModelConfig, save_model  # noqa: E402


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


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
    """A real trained 9-block CycleGAN generator (vintagify's modern→vintage, MIT licence; affine
    InstanceNorm, `block` naming). Needed where random weights would prove nothing."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("vintagify")
    if spec is None or not spec.submodule_search_locations:
        if os.environ.get("CI"):
            pytest.fail("vintagify (dev requirement carrying trained weights) is not installed")
        pytest.skip("vintagify is not installed (pip install -r requirements-dev.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "resources" / "G_A2B_epoch33.pth"


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
def app_url(zoo_upstream):
    """The app, launched in this process on 127.0.0.1 (zoo served by `zoo_upstream`)."""
    from demo import build_demo, launch_options

    demo = build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield url
    demo.close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def browser_page():
    """A page in Debian's headless Chromium driven by playwright. Outside CI a missing browser
    skips; in CI (CI=true) it fails. Every URL the page requests is recorded in `page.requested`."""
    if not os.path.exists(CHROMIUM) or __import__("importlib").util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need {CHROMIUM} and playwright (.ci/run installs both)")
        pytest.skip("chromium or playwright not installed")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        page.set_default_timeout(60_000)
        yield page
        browser.close()
