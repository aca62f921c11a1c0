"""A first visit on a machine without network, in a real browser: the default task and every example
it offers give a picture on the first click, the zoo says it is unavailable instead of failing, and
the page fits a phone."""

import pytest

from conftest import ARTIFACTS, wait_for_queue_idle
from demo.example_pictures import ExamplePictures
from demo.translate_tab import DEFAULT_TASK

pytestmark = pytest.mark.browser  # Chromium through playwright; the ones over 10 s are also `slow`


@pytest.fixture
def offline_app(offline_sandbox, monkeypatch, trained_generator_path, launch_app):
    """The app as `python app.py` builds it, with every remote on a closed loopback port and an empty
    store and Hub cache: a fresh machine with no network."""
    monkeypatch.delenv("CYCLEGAN_EXAMPLES_REPO", raising=False)
    return launch_app()


def wait_for_result(page, previous: str | None = None) -> list[int]:
    """The output picture's natural size once a new one (not `previous`) is shown and the run is over
    (its progress box gone: a large picture's preview comes first)."""
    page.wait_for_function(
        """previous => { const el = document.querySelector('#output-image img');
                         const box = document.querySelector('#translate-progress');
                         return el && el.complete && el.naturalWidth > 0 && el.src !== previous
                                && !(box && box.offsetParent !== null); }""",
        arg=previous, timeout=120_000)
    return page.locator("#output-image img").first.evaluate("el => [el.naturalWidth, el.naturalHeight]")


@pytest.mark.slow
def test_offline_first_clicks_on_the_default_task_and_its_examples_give_pictures(offline_app, browser_page):
    page = browser_page
    page.goto(offline_app)
    assert page.input_value("#task input") == DEFAULT_TASK
    page.locator("#task-status", has_text="Ready").wait_for()

    examples = ExamplePictures().for_domain("modern photo")
    assert len(examples) >= 2
    thumbnails = page.locator("#task-examples .thumbnail-item")
    thumbnails.first.wait_for()
    assert thumbnails.count() == len(examples)
    previous = None
    for index, example in enumerate(examples):
        thumbnails.nth(index).click()
        page.locator("#input-image img").first.wait_for()
        page.wait_for_timeout(300)  # the chosen example reaches the input
        page.click("#translate-button")
        size = wait_for_result(page, previous)
        previous = page.locator("#output-image img").first.get_attribute("src")
        from PIL import Image
        with Image.open(example.path) as picture:
            assert size == list(picture.size), example.path.name  # full resolution, not an error
        assert not page.locator("#translate-error").is_visible()
        page.locator("#translate-info", has_text="modern photo → vintage photo").wait_for()
        if index == 0:
            page.screenshot(path=str(ARTIFACTS / "first-visit.png"), full_page=True)

    # The zoo is offered for what it is offline: marked unavailable, and choosing it says why.
    page.click("#task input")
    option = page.locator('[role=option]', has_text="summer → winter · unavailable offline").first
    option.wait_for()
    option.click()
    page.locator("#task-status", has_text="Unavailable offline").wait_for()
    page.click("#translate-button")
    error = page.locator("#translate-error")
    error.wait_for()
    text = error.inner_text()
    assert "not available on this server" in text and "\n" in text, text  # its line break is kept
    wait_for_queue_idle(page)  # the click's events are over: any pop-up they made would be there
    assert error.is_visible() and page.locator(".toast-body").count() == 0  # a box on the page, not a fading pop-up
    page.screenshot(path=str(ARTIFACTS / "first-visit-offline-zoo.png"), full_page=True)


def test_the_translate_tab_fits_a_phone(offline_app, browser_page):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(offline_app)
    page.locator("#task-examples .thumbnail-item").first.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('#task-examples img')].every(i => i.complete && i.naturalWidth)")
    cut = page.evaluate("""() => [...document.querySelectorAll(
            '#tab-translate label, #tab-translate .label-wrap span, #tab-translate button')]
        .filter(el => el.offsetParent !== null && el.innerText.trim() !== '' && !el.closest('.thumbnail-item')
                      && !el.classList.contains('label-wrap'))  // an accordion's button: its text span is checked
        .filter(el => { const r = el.getBoundingClientRect();
                        return el.scrollWidth > el.clientWidth + 1 || r.left < -1 || r.right > window.innerWidth + 1; })
        .map(el => el.innerText.slice(0, 40))""")
    page.screenshot(path=str(ARTIFACTS / "first-visit-phone.png"), full_page=True)
    assert cut == [], f"cut at 390 px: {cut}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
