"""The Translate tab's video and live webcam in a real browser (headless Chromium): a short clip
uploaded and translated with its sound, and Chromium's fake camera streamed and translated live at a
measured frame rate, through the app's door like any visitor's."""

import re
import urllib.request

import av
import pytest

from conftest import ARTIFACTS
from demo.model_cache import ModelCache
from videos import frame_count, pan_clip

pytestmark = pytest.mark.browser

FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture
def tiny_app(offline_sandbox, launch_app, tiny_model):
    return launch_app(cache=ModelCache(loader=lambda source: tiny_model))


def open_section(page, box: str) -> None:
    page.locator(f"#{box} button.label-wrap, #{box} > button").first.click()
    page.wait_for_timeout(300)


@pytest.mark.slow
def test_a_visitor_translates_a_short_clip_and_gets_it_back_with_its_sound(tiny_app, browser_page, tmp_path):
    page = browser_page
    clip = pan_clip(tmp_path / "walk.mp4")
    page.goto(tiny_app)
    open_section(page, "video-box")
    page.set_input_files("#input-video input[type=file]", str(clip))
    page.locator("#input-video video").first.wait_for()
    page.click("#video-button")
    page.locator("#video-info", has_text="frames of").wait_for(timeout=120_000)
    info = page.inner_text("#video-info")
    assert "24 frames of 96×64" in info and "sound copied" in info, info
    src = page.locator("#output-video video").first.get_attribute("src")
    served = tmp_path / "served.mp4"
    with urllib.request.urlopen(src) as response:
        served.write_bytes(response.read())
    assert frame_count(served) == 24
    with av.open(str(served)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
    page.screenshot(path=str(ARTIFACTS / "video-translate.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#video-box").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "video-translate-phone.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.chromium_args(FAKE_CAMERA)
def test_on_the_server_the_webcam_streams_and_comes_back_translated_live(tiny_app, browser_page):
    page = browser_page
    page.context.grant_permissions(["camera"])
    page.goto(tiny_app)
    open_section(page, "webcam-box")
    page.click("#webcam-where label:has-text('On the server')")
    page.locator("#webcam-in button", has_text="Click to Access Webcam").click()
    page.locator("#webcam-in button", has_text="Record").click()
    page.locator("#webcam-info", has_text="frames/s").wait_for(timeout=60_000)
    page.wait_for_timeout(4000)
    info = page.inner_text("#webcam-info")
    rate = float(re.search(r"([\d.]+) frames/s", info).group(1))
    assert rate > 1.0, info  # the tiny model keeps up with the page's five frames a second
    assert page.locator("#webcam-out img").first.get_attribute("src")
    page.screenshot(path=str(ARTIFACTS / "webcam-live.png"), full_page=True)
    print("webcam:", info)


@pytest.mark.slow
@pytest.mark.chromium_args(FAKE_CAMERA)
def test_on_this_device_the_webcam_is_translated_in_the_browser_and_no_frame_reaches_the_server(
        offline_sandbox, launch_app, tiny_model, browser_page, monkeypatch):
    from demo.device import ort_web_dir
    from demo.webcam import WebcamHandlers
    if ort_web_dir() is None:
        if __import__("os").environ.get("CI"):
            pytest.fail("onnxruntime-web is not in third_party/onnxruntime-web (.ci/run fetches it)")
        pytest.skip("onnxruntime-web not fetched (bash scripts/fetch_onnxruntime_web.sh)")
    frames = []
    served = WebcamHandlers.live
    monkeypatch.setattr(WebcamHandlers, "live", lambda self, *a, **k: frames.append(1) or served(self, *a, **k))
    url = launch_app(cache=ModelCache(loader=lambda source: tiny_model))
    page = browser_page
    page.context.grant_permissions(["camera"])
    page.goto(url)
    open_section(page, "webcam-box")
    assert page.locator("#webcam-where input:checked").get_attribute("value") == "On this device"
    page.click("#webcam-device-start")
    page.locator("#webcam-device-info", has_text="frames/s").wait_for(timeout=90_000)
    page.locator("#webcam-device-info", has_text="statistics locked").wait_for(timeout=60_000)
    page.wait_for_timeout(3000)
    info = page.inner_text("#webcam-device-info")
    rate = float(re.search(r"([\d.]+) frames/s", info).group(1))
    assert rate > 0.5 and "frames stay in this browser" in info, info
    drawn = page.evaluate("""() => { const c = document.getElementById('webcam-device-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let sum = 0; for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
        return [c.width, c.height, sum / (d.length / 4)]; }""")
    assert drawn[0] >= 64 and drawn[1] >= 48 and drawn[2] > 0, drawn
    assert frames == [], "a camera frame went to the server"
    page.screenshot(path=str(ARTIFACTS / "webcam-device.png"), full_page=True)
    page.click("#webcam-device-stop")
    page.wait_for_function("() => !window.cycleganDevice.live.running")
    print("webcam on the device:", info)
