"""In front of a class, offline, with an empty model store: each tab at a desk (1280 px) and on a phone
(390 px). Ordinary failures (the Hub offline, nothing chosen, a paused lesson) are words in the page's
own boxes, never Gradio's "Error" badge or a toast; nothing scrolls sideways on a phone; every caption
fits its box; every wait says what it is waiting for. Screenshots of every tab at both widths go to
test-artifacts/ (class-<tab>-<width>.png)."""

import time
from urllib.parse import urlparse

import pytest

from conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium through playwright; each test over 10 s

WIDTHS = (1280, 390)
# What a visitor must never see for an ordinary situation: a status tracker's "Error" badge, or a toast.
FAULTS = """() => ({
  badges: [...document.querySelectorAll('[data-testid=status-tracker] .error')].filter(e => e.offsetParent)
            .map(e => (e.closest('[id]') || {}).id || '?'),
  toasts: [...document.querySelectorAll('[data-testid=toast-body]')].map(e => e.innerText),
  sideways: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  cut: [...document.querySelectorAll('.caption-label')].filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1)
         .map(e => e.innerText),
})"""


def faults(page) -> dict:
    return page.evaluate(FAULTS)


def assert_fine(page, where: str) -> None:
    found = faults(page)
    assert not found["badges"] and not found["toasts"], f"{where}: {found}"
    assert found["sideways"] <= 0, f"{where}: the page scrolls sideways by {found['sideways']} px"
    assert not found["cut"], f"{where}: captions cut off: {found['cut']}"


def shoot_both(page, name: str) -> None:
    """The page at both widths, screenshot and checked at each (it ends at the desk width)."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(600)  # the layout settles, images paint
        assert_fine(page, f"{name} at {width} px")
        page.screenshot(path=str(ARTIFACTS / f"class-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1000})


@pytest.fixture
def offline_app(launch_app, monkeypatch):
    """The app with an empty store and no network (the sandbox's Hub and upstream are closed ports);
    the toy models' first training is cut to a few seconds."""
    monkeypatch.setattr("demo.learn_tab.TOY_SECONDS", 4.0)
    monkeypatch.setattr("demo.learn_tab.TOY_STEPS", 30)
    return launch_app()


def test_translate_offline_the_hub_box_says_why_and_nothing_else_turns_red(offline_app, browser_page):
    page = browser_page
    page.goto(offline_app)
    page.locator("#task-examples img").first.wait_for()
    shoot_both(page, "translate")
    page.click("#hub-box")
    page.fill("#hub-repo textarea, #hub-repo input", "someone/model")
    page.click("#hub-load")
    page.locator("#hub-status", has_text="cannot reach the Hugging Face Hub").wait_for()
    assert "(a server address)" not in page.inner_text("#hub-status") and "Checking" not in page.inner_text("#hub-status")
    assert page.input_value("#task input") == "modern photo → vintage photo"  # the task lists are as they were
    assert_fine(page, "a failed Hub load")
    page.fill("#hub-repo textarea, #hub-repo input", "")
    page.click("#hub-load")
    page.locator("#hub-status", has_text="Type a Hub repo id").wait_for()
    assert "cannot reach" not in page.inner_text("#hub-status")  # each message replaces the last
    assert_fine(page, "an empty Hub box")
    shoot_both(page, "translate-hub-offline")


def test_train_offline_offers_the_built_in_model_a_learning_rate_and_refuses_an_empty_resume_at_once(
        offline_app, browser_page):
    page = browser_page
    page.goto(offline_app)
    page.get_by_role("tab", name="Train").click()
    page.click("#init input")
    options = page.locator("[role=option]").all_inner_texts()
    assert any(text.startswith("modern photo → vintage photo (built in") for text in options), options
    assert not any("unavailable" in text for text in options), options  # nothing offered that cannot be used
    page.keyboard.press("Escape")
    page.get_by_text("More settings").click()
    assert page.input_value("#learning-rate input") == "0.0002"
    started = time.monotonic()
    page.click("#train-resume")
    page.locator("#train-error", has_text="choose one of your runs first").wait_for(timeout=2_000)
    assert time.monotonic() - started < 2.0
    page.wait_for_timeout(800)  # nothing else arrives later (no queued run, no badge)
    assert_fine(page, "Resume with nothing chosen")
    shoot_both(page, "train")


def test_learn_first_use_says_it_trains_views_are_one_tap_away_and_pausing_is_quiet(offline_app, browser_page,
                                                                                   tmp_path):
    from cyclegan_core.teaching.toy_models import example_pictures
    pictures = example_pictures("red_blue", tmp_path)
    page = browser_page
    page.goto(offline_app)
    page.get_by_role("tab", name="Learn").click()
    page.click("#learn-cycle-button")  # nothing chosen yet: said in the view's box
    page.locator("#learn-cycle-message", has_text="Add a picture first").wait_for(timeout=2_000)
    assert_fine(page, "Cycle with no picture")

    page.set_input_files("#learn-image input[type=file]", str(pictures["A"][0]))
    page.set_input_files("#learn-image-b input[type=file]", str(pictures["B"][0]))
    page.locator("#learn-image-b img").first.wait_for()
    started = time.monotonic()
    page.click("#learn-cycle-button")  # the toy model is trained now, for its first use: it says so
    page.get_by_text("for its first use").first.wait_for(timeout=2_000)
    assert time.monotonic() - started < 2.0
    page.locator("#learn-forward-text", has_text="Cycle error of this picture").wait_for(timeout=60_000)
    page.locator("#learn-backward-text", has_text="Backward cycle error").wait_for()
    assert not page.locator("#learn-cycle-message").is_visible()
    assert page.locator("#learn-forward-text .katex").count() >= 1, "the equation is rendered"
    assert page.locator("#learn-forward img").count() >= 4
    shoot_both(page, "learn-cycle")

    for width in WIDTHS:  # each view is one tap away, on a phone too: no menu hides any
        page.set_viewport_size({"width": width, "height": 1000})
        for name, shown in (("Hidden", "#learn-hidden-button"), ("Discriminator", "#learn-d-button"),
                            ("Lessons", "#learn-lesson-play"), ("Try it", "#learn-live-step"),
                            ("Cycle", "#learn-cycle-button")):
            choice = page.locator("#learn-view label", has_text=name)
            box = choice.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{name} at {width} px: {box}"
            choice.click()
            page.locator(shown).wait_for(timeout=2_000)
    page.set_viewport_size({"width": 1280, "height": 1000})

    page.locator("#learn-view label", has_text="Hidden").click()
    page.click("#learn-hidden-button")
    page.locator("#learn-hidden-text", has_text="steganography").wait_for()
    shoot_both(page, "learn-hidden")
    page.locator("#learn-view label", has_text="Discriminator").click()
    page.click("#learn-d-button")
    page.locator("#learn-d-text", has_text="own discriminators").wait_for()
    assert page.locator("#learn-d img").count() >= 3
    assert not page.locator("#learn-d-train").is_visible()  # it has its own D's: nothing to train
    shoot_both(page, "learn-discriminator")

    page.locator("#learn-view label", has_text="Lessons").click()
    page.locator("#learn-lesson-text", has_text="Outcome of the recording").wait_for()
    page.click("#learn-lesson-play")
    page.wait_for_function("() => /\\(frame ([1-9]|1[0-5]) of/.test(document.querySelector('#learn-lesson-text').innerText)")
    page.click("#learn-lesson-pause")
    page.wait_for_timeout(1_000)
    paused = page.inner_text("#learn-lesson-text")
    page.wait_for_timeout(1_000)
    assert page.inner_text("#learn-lesson-text") == paused, "the lesson went on after Pause"
    assert "(frame 20 of 20)" not in paused, "Pause came too late to tell"
    assert_fine(page, "a paused lesson")
    shoot_both(page, "learn-lessons")

    page.locator("#learn-view label", has_text="Try it").click()
    page.click("#learn-live-step")
    page.locator("#learn-live-losses", has_text="cycle_A").wait_for()
    cells = page.locator("#learn-live-losses tr", has_text="cycle_A").locator("td").all_inner_texts()
    assert len(cells) == 3 and "‖F(G(a)) − a‖₁" in cells[2], cells  # the formula stays in its cell
    shoot_both(page, "learn-try-it")
    page.locator("#learn-live-seconds input[type=number]").fill("5")
    page.locator("#learn-live-seconds input[type=number]").press("Enter")
    started = time.monotonic()
    page.click("#learn-live-train")
    page.get_by_text("Training for 5 s").first.wait_for(timeout=2_000)  # says at once how long it trains
    assert time.monotonic() - started < 2.0
    page.locator("#learn-live-status", has_text="steps in").wait_for(timeout=120_000)
    assert "Is it working?" in page.inner_text("#learn-live-doctor")
    shoot_both(page, "learn-live")

    hosts = {urlparse(url).hostname for url in page.requested if url.startswith("http")}
    assert hosts <= {"127.0.0.1", "localhost"}, f"the page reached out to {hosts}"
