"""Translate on the visitor's device, in a real browser (headless Chromium: onnxruntime-web's
WebAssembly backend, served by the app from third_party/onnxruntime-web): the picture is translated in
the page with the same pixels as the server's (≥ 40 dB), the server runs no translation for it, the
model is downloaded once (then the browser's cache, even after a reload), and "On the server" still
translates there."""

import base64
import io
import os

import pytest
from PIL import Image

from conftest import ARTIFACTS, psnr
from demo.device import WHERE_SERVER, ort_web_dir
from demo.model_cache import ModelCache

pytestmark = pytest.mark.browser


@pytest.fixture
def device_app(offline_sandbox, launch_app, tiny_model, monkeypatch):
    """The app with every task served by the tiny model, and the server's translation events (the
    Translate tab's, for the page and for the API) as they run."""
    if ort_web_dir() is None:
        if os.environ.get("CI"):
            pytest.fail("onnxruntime-web is not in third_party/onnxruntime-web (.ci/run fetches it)")
        pytest.skip("onnxruntime-web not fetched (bash scripts/fetch_onnxruntime_web.sh)")
    from demo.translate_tab import TranslateHandlers
    calls = []
    on_page, for_api = TranslateHandlers.translate_on_page, TranslateHandlers.translate

    def counted_on_page(self, *args, **kwargs):  # a generator, as Gradio must see it
        calls.append("translate_on_page")
        yield from on_page(self, *args, **kwargs)

    def counted_for_api(self, *args, **kwargs):
        calls.append("translate")
        return for_api(self, *args, **kwargs)
    monkeypatch.setattr(TranslateHandlers, "translate_on_page", counted_on_page)
    monkeypatch.setattr(TranslateHandlers, "translate", counted_for_api)
    url = launch_app(cache=ModelCache(loader=lambda source: tiny_model))
    return url, calls


def shown_result(page, previous: str | None = None) -> Image.Image:
    handle = page.wait_for_function(
        """previous => { const el = document.querySelector('#output-image img');
                         return el && el.complete && el.naturalWidth > 0 && el.src !== previous ? el.src : null; }""",
        arg=previous, timeout=120_000)
    src = handle.json_value()
    if src.startswith("data:"):
        return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")
    import urllib.request
    with urllib.request.urlopen(src) as response:
        return Image.open(io.BytesIO(response.read())).convert("RGB")


def translate(page, path, previous=None) -> Image.Image:
    page.set_input_files("#input-image input[type=file]", str(path))
    page.locator("#input-image img").first.wait_for()
    page.wait_for_timeout(300)
    page.click("#translate-button")
    return shown_result(page, previous)


def model_downloads(page) -> int:
    return sum(1 for url in page.requested if url.split("?")[0].endswith(".onnx"))


@pytest.mark.slow
def test_a_visitor_translates_on_their_device_and_the_server_only_sends_files(device_app, browser_page, photo,
                                                                              tiny_model, tmp_path):
    url, calls = device_app
    page = browser_page
    from skimage import data
    square = tmp_path / "square.png"
    Image.fromarray(data.astronaut()).save(square)  # 512×512
    odd = tmp_path / "odd.jpg"
    photo.save(odd, quality=95)  # 301×157

    page.goto(url)
    assert page.locator("#translate-where input:checked").get_attribute("value") == "On this device"
    first = translate(page, square)
    assert first.size == (512, 512)
    assert psnr(first, tiny_model.translate(square, "AtoB", precision="fp32")) >= 40
    info = page.inner_text("#translate-info")
    assert "on this device" in info and "WebAssembly" in info and "512×512" in info, info
    assert calls == [], "the server translated a picture the browser translated"
    assert model_downloads(page) == 1
    page.screenshot(path=str(ARTIFACTS / "device-translate.png"), full_page=True)

    previous = page.locator("#output-image img").first.get_attribute("src")
    second = translate(page, odd, previous)
    assert second.size == (301, 157)
    assert psnr(second, tiny_model.translate(odd, "AtoB", precision="fp32")) >= 40
    assert calls == [] and model_downloads(page) == 1, "the second translation downloaded the model again"
    assert "from this browser's cache" in page.inner_text("#translate-info")

    page.reload()  # a new page: the model comes from the browser's Cache Storage
    third = translate(page, odd)
    assert psnr(third, second) >= 40 and model_downloads(page) == 1 and calls == []
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "device-translate-phone.png"), full_page=True)

    page.set_viewport_size({"width": 1280, "height": 1000})
    page.click(f"#translate-where label:has-text('{WHERE_SERVER}')")
    previous = page.locator("#output-image img").first.get_attribute("src")
    page.click("#translate-button")
    on_server = shown_result(page, previous)
    assert calls, "On the server: the server translates"
    assert psnr(on_server, third) >= 40
    page.locator("#translate-info", has_text="s (").wait_for()
    assert "on this device" not in page.inner_text("#translate-info")


# Chromium's software WebGPU adapter (SwiftShader): a browser that offers both WebGPU and WebAssembly.
SOFTWARE_WEBGPU = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan,WebGPU"]


@pytest.mark.slow
@pytest.mark.chromium_args(SOFTWARE_WEBGPU)
def test_where_webgpu_and_webassembly_both_exist_the_faster_one_measured_here_runs(device_app, browser_page, photo,
                                                                                  tiny_model, tmp_path):
    """WebGPU is not always the faster (here: a GPU emulated on the CPU). The first translation times
    both on a test picture through the model and keeps the faster; the browser remembers the choice."""
    url, calls = device_app
    page = browser_page
    page.goto(url)
    page.wait_for_function("() => !!window.cycleganDevice")
    assert page.evaluate("async () => (await window.cycleganDevice.backends()).join(',')") == "webgpu,wasm"
    odd = tmp_path / "odd.png"
    photo.save(odd)
    result = translate(page, odd)
    assert psnr(result, tiny_model.translate(odd, "AtoB", precision="fp32")) >= 40 and calls == []
    choice = page.evaluate("() => JSON.parse(localStorage.getItem('cyclegan-studio-device-backend-v1'))")
    seconds = {backend: (s if s is not None else float("inf")) for backend, s in choice["seconds"].items()}
    assert set(seconds) == {"webgpu", "wasm"} and choice["probe"] == 128
    assert choice["backend"] == min(seconds, key=seconds.get) and seconds[choice["backend"]] > 0
    info = page.inner_text("#translate-info")
    chosen, other = ("WebGPU", "WebAssembly") if choice["backend"] == "webgpu" else ("WebAssembly", "WebGPU")
    assert f"{chosen}" in info and f"faster here than {other} on a 128² test" in info, info
    assert model_downloads(page) == 1  # the measurement used the one download
    page.reload()  # remembered: no second measurement
    again = translate(page, odd)
    assert psnr(again, result) >= 40 and model_downloads(page) == 1
    assert page.evaluate("() => JSON.parse(localStorage.getItem('cyclegan-studio-device-backend-v1')).backend") \
        == choice["backend"]
    print("measured at 128²:", seconds)


@pytest.fixture
def device_path_off(monkeypatch):
    monkeypatch.setenv("CYCLEGAN_DEVICE_MAX_PIXELS", "0")


def test_with_the_browser_path_off_the_server_translates_as_before(device_path_off, device_app, browser_page, photo,
                                                                    tiny_model, tmp_path):
    url, calls = device_app
    page = browser_page
    odd = tmp_path / "odd.png"
    photo.save(odd)
    page.goto(url)
    assert page.locator("#translate-where input:checked").get_attribute("value") == WHERE_SERVER
    page.click("#translate-where label:has-text('On this device')")  # asked for, but this app does not offer it
    result = translate(page, odd)
    assert psnr(result, tiny_model.translate(odd, "AtoB")) >= 40
    assert calls == ["translate_on_page"] and model_downloads(page) == 0
    page.locator("#translate-info", has_text="s (").wait_for()
    assert "on this device" not in page.inner_text("#translate-info")


def test_the_page_loads_onnxruntime_web_from_the_app_or_from_the_pinned_cdn_checked_by_its_hash(monkeypatch,
                                                                                                tmp_path):
    import base64 as b64
    import hashlib
    import json

    from demo import device
    local = ort_web_dir()
    if local is not None:  # the pinned hash is the pinned version's: what the CDN serves is what CI tested
        digest = hashlib.sha384((local / "ort.min.js").read_bytes()).digest()
        assert device.ORT_WEB_INTEGRITY == "sha384-" + b64.b64encode(digest).decode()
        assert (local / ".version").read_text().strip() == device.ORT_WEB_VERSION
        settings = device.device_settings()
        assert settings["source"] == "local" and settings["integrity"] is None
        assert settings["script"] == f"/gradio_api/file={local.as_posix()}/ort.min.js"
        assert device.static_paths() == [local]
    monkeypatch.setenv("CYCLEGAN_ORT_WEB_DIR", str(tmp_path))  # an empty folder: not usable
    settings = device.device_settings()
    assert settings["source"] == "cdn" and device.static_paths() == []
    assert settings["script"] == f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{device.ORT_WEB_VERSION}/dist/ort.min.js"
    assert settings["integrity"] == device.ORT_WEB_INTEGRITY and settings["maxPixels"] == 2_000_000
    monkeypatch.setenv("CYCLEGAN_DEVICE_MAX_PIXELS", "0")
    head = device.head_html()
    assert json.dumps(device.device_settings()) in head and "window.cycleganDevice" in head
    assert '"maxPixels": 0' in head
