"""The Translate tab in a real browser, the way a person uses it."""

from urllib.parse import urlparse

from conftest import ARTIFACTS


def test_upload_choose_translate_and_see_the_result(app_url, browser_page, photo, tmp_path):
    page = browser_page
    path = tmp_path / "horse.png"
    photo.save(path)

    page.goto(app_url)
    page.set_input_files("#input-image input[type=file]", str(path))
    page.locator("#input-image img").first.wait_for()  # the upload is previewed

    page.click("#task input")
    page.click('[role=option][aria-label="horse → zebra"]')
    assert page.input_value("#task input") == "horse → zebra"

    page.click("#translate-button")
    output = page.locator("#output-image img").first
    output.wait_for()
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=output.element_handle())
    size = output.evaluate("el => [el.naturalWidth, el.naturalHeight]")
    assert size == [301, 157], "the result is shown at the input's full resolution"
    page.locator("#translate-info", has_text="horse → zebra").wait_for()
    assert "301×157" in page.inner_text("#translate-info")
    page.screenshot(path=str(ARTIFACTS / "translate.png"), full_page=True)

    hosts = {urlparse(url).hostname for url in page.requested if url.startswith("http")}
    assert hosts <= {"127.0.0.1", "localhost"}, f"the page reached out to {hosts}"


def test_cycle_view_then_a_corrupt_upload_explains_itself(app_url, browser_page, photo, tmp_path):
    page = browser_page
    page.goto(app_url)
    path = tmp_path / "winter.jpg"
    photo.save(path, quality=95)
    page.set_input_files("#input-image input[type=file]", str(path))
    page.locator("#input-image img").first.wait_for()
    page.check("#show-cycle input")
    page.click("#translate-button")
    page.locator("#cycle-image img").first.wait_for()
    assert "Cycle:" in page.inner_text("#translate-info")
    page.screenshot(path=str(ARTIFACTS / "cycle.png"), full_page=True)

    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[:3000])
    page.click("#input-image button[aria-label='Remove Image']")
    page.set_input_files("#input-image input[type=file]", str(cut))
    page.click("#translate-button")
    page.get_by_text("truncated or corrupt").first.wait_for()
    page.locator("#cycle-image").wait_for(state="hidden")  # no stale result next to the error
    assert "Cycle:" not in page.inner_text("#translate-info")
    page.screenshot(path=str(ARTIFACTS / "bad-upload.png"), full_page=True)
