"""The Learn tab in a real browser, the way a teacher uses it: the cycle, the hidden information,
the discriminator's view, a recorded lesson and a few live training steps, offline, with the
toy models. Screenshots of each view go to test-artifacts/."""

from urllib.parse import urlparse

import pytest

from conftest import ARTIFACTS
from cyclegan_core.teaching.toy_models import example_pictures

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium through playwright; each test over 10 s

TASK = "toy: red shapes → blue shapes"


def shoot(page, name):
    page.wait_for_timeout(500)  # let images finish painting
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_a_teacher_shows_every_idea_in_the_learn_tab(toy_models_in_store, app_url, browser_page, tmp_path):
    pictures = example_pictures("red_blue", tmp_path)
    page = browser_page
    page.goto(app_url)
    page.get_by_role("tab", name="Learn").click()
    assert page.input_value("#learn-task input") == TASK  # the toy models come first: they work offline
    page.set_input_files("#learn-image input[type=file]", str(pictures["A"][0]))
    page.set_input_files("#learn-image-b input[type=file]", str(pictures["B"][0]))
    page.locator("#learn-image-b img").first.wait_for()

    page.click("#learn-cycle-button")  # the toy model trained at its first use is in the store (conftest.py)
    page.locator("#learn-forward-text", has_text="Cycle error of this picture").wait_for(timeout=60_000)
    page.locator("#learn-backward-text", has_text="Backward cycle error").wait_for()
    assert page.locator("#learn-forward-text .katex").count() >= 1, "the equation is rendered"
    assert page.locator("#learn-forward img").count() >= 4
    shoot(page, "learn-cycle.png")

    page.locator("#learn-view label", has_text="Hidden").click()
    page.click("#learn-hidden-button")
    page.locator("#learn-hidden-text", has_text="steganography").wait_for()
    shoot(page, "learn-hidden.png")

    page.locator("#learn-view label", has_text="Discriminator").click()
    page.click("#learn-d-button")
    page.locator("#learn-d-text", has_text="own discriminators").wait_for()
    assert page.locator("#learn-d img").count() >= 3
    assert not page.locator("#learn-d-train").is_visible()  # it has its own D's: nothing to train
    shoot(page, "learn-discriminator.png")

    page.locator("#learn-view label", has_text="Lessons").click()
    page.locator("#learn-lesson-text", has_text="Outcome of the recording").wait_for()
    page.click("#learn-lesson-play")
    page.wait_for_function("() => /Step (\\d+) of \\1\\b/.test(document.querySelector('#learn-lesson-text').innerText)",
                           timeout=120_000)
    shoot(page, "learn-lesson.png")

    page.locator("#learn-view label", has_text="Try it").click()
    page.click("#learn-live-step")
    page.locator("#learn-live-status", has_text="step 1 ").wait_for()
    page.locator("#learn-live-losses", has_text="cycle_A").wait_for()
    shoot(page, "learn-live-step.png")
    page.locator("#learn-live-seconds input[type=number]").fill("5")
    page.locator("#learn-live-seconds input[type=number]").press("Enter")
    page.click("#learn-live-train")
    page.locator("#learn-live-status", has_text="steps in").wait_for(timeout=120_000)
    assert "Is it working?" in page.inner_text("#learn-live-doctor")
    shoot(page, "learn-live.png")

    page.set_viewport_size({"width": 390, "height": 900})  # a phone: the open tab, then the first one
    shoot(page, "learn-live-phone.png")
    page.locator("#learn-view label", has_text="Cycle").click()
    page.locator("#learn-forward-text", has_text="Cycle error").wait_for()
    shoot(page, "learn-cycle-phone.png")

    hosts = {urlparse(url).hostname for url in page.requested if url.startswith("http")}
    assert hosts <= {"127.0.0.1", "localhost"}, f"the page reached out to {hosts}"
