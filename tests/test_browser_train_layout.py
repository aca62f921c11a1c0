"""The Train tab's layout in a real browser, on a desktop (1280 px) and a phone (390 px): the loss
plot's legend and whole-step axis, both preview rows without inner scrolling, Stop only while a run
goes, errors that stay on the page, and no cut label on a phone. Screenshots go to test-artifacts/."""

import re

import pytest

from conftest import ARTIFACTS, wait_for_page_load_events

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium through playwright; each test over 10 s

STEPS = 60

# Every label-like element of the Train tab that is shown: block titles, field labels, radio and
# checkbox labels, accordion headers and buttons. Returns [text, scrollWidth, clientWidth, left, right].
LABELS_JS = """() => {
  const root = document.querySelector('#tab-train');
  const selector = 'label, [data-testid=block-info], [data-testid=block-label], .label-wrap > span:first-child, ' +
                   'button:not(.label-wrap)';  // an accordion's title, not its arrow (turned, it sticks out)
  return [...root.querySelectorAll(selector)].filter(el => el.getClientRects().length && el.innerText.trim())
    .map(el => { const r = el.getBoundingClientRect();
                 return [el.innerText.trim().split('\\n')[0], el.scrollWidth, el.clientWidth, r.left, r.right]; });
}"""

# The x axis's tick labels and the legend's entries of a loss plot (Vega draws them as SVG).
PLOTS = ("#loss-plot", "#cycle-plot")
X_TICKS_JS = """plot => [...document.querySelectorAll(`${plot} svg g[aria-label^="X-axis"] .role-axis-label text`)]
                 .map(t => t.textContent)"""
LEGEND_JS = """plot => {
  const box = document.querySelector(plot).getBoundingClientRect();
  return [...document.querySelectorAll(`${plot} svg .role-legend-label text`)].map(t => {
    const r = t.getBoundingClientRect();
    return [t.textContent, r.width > 0 && r.left >= box.left - 1 && r.right <= box.right + 1 &&
            r.top >= box.top - 1 && r.bottom <= box.bottom + 1];
  });
}"""
# Whether anything in the gallery scrolls inside, and the preview images shown whole inside it.
GALLERY_JS = """() => {
  const gallery = document.querySelector('#previews');
  const box = gallery.getBoundingClientRect();
  const scrolled = [gallery, ...gallery.querySelectorAll('*')]
    .filter(el => el.scrollHeight > el.clientHeight + 1 && ['auto', 'scroll'].includes(getComputedStyle(el).overflowY))
    .map(el => el.className.toString());
  const shown = [...gallery.querySelectorAll('img')].filter(img => {
    const r = img.getBoundingClientRect();
    return img.complete && img.naturalWidth > 0 && r.width > 8 && r.height > 8 && r.top >= box.top - 1 &&
           r.bottom <= box.bottom + 1 && r.left >= box.left - 1 && r.right <= box.right + 1;
  }).length;
  return {scrolled, shown};
}"""


def open_train_tab(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-start").wait_for()
    wait_for_page_load_events(page)  # Stop's visibility among what they decide


def assert_whole_step_ticks(page):
    for plot in PLOTS:
        ticks = page.evaluate(X_TICKS_JS, plot)
        assert ticks and all(re.fullmatch(r"\d+", t.replace(",", "")) for t in ticks), (plot, ticks)


def assert_plot_and_previews_whole(page):
    legends = {plot: page.evaluate(LEGEND_JS, plot) for plot in PLOTS}
    assert [len(legend) for legend in legends.values()] == [4, 4], legends
    assert all(inside for legend in legends.values() for _, inside in legend), f"legend entries cut off: {legends}"
    assert_whole_step_ticks(page)
    gallery = page.evaluate(GALLERY_JS)
    assert gallery == {"scrolled": [], "shown": 6}, f"previews scroll inside or are hidden: {gallery}"


def assert_no_label_cut(page, width):
    labels = page.evaluate(LABELS_JS)
    assert len(labels) > 20
    cut = [label for label in labels if label[1] > label[2] + 1 or label[3] < -0.5 or label[4] > width + 0.5]
    assert not cut, f"labels cut or off screen at {width} px: {cut}"


def test_a_run_on_a_desktop_then_a_phone_shows_the_legend_whole_steps_both_preview_rows_and_stop_only_while_training(
        app_url, browser_page, tinted_uploads, monkeypatch):
    import types

    import cyclegan_core.publish

    pushed = []

    def fake_push(folder, repo_id, *, token=None, private=False, **options):  # the app runs in this process
        pushed.append((folder.name, repo_id, token, private))
        return types.SimpleNamespace(repo_id=repo_id, url=f"https://huggingface.co/{repo_id}", folder=None,
                                     files=("config.json", "model.safetensors", "README.md"), commit_url=None)

    monkeypatch.setattr(cyclegan_core.publish, "push_model", fake_push)
    page, pictures = browser_page, tinted_uploads
    open_train_tab(page, app_url)
    assert not page.locator("#train-stop").is_visible(), "nothing to stop yet"
    page.fill("#name-a textarea, #name-a input", "red")
    page.fill("#name-b textarea, #name-b input", "blue")
    for key in "ab":
        page.set_input_files(f"#files-{key} input[type=file]", pictures[key])
    page.locator("#info-b", has_text="3 usable image(s)").wait_for()
    page.click("#init input")
    page.get_by_role("option", name="horse2zebra (official, horse ↔ zebra)").click()
    page.click("#crop input")
    page.get_by_role("option", name="64", exact=True).click()
    page.locator("#steps input[type=number]").fill(str(STEPS))
    page.locator("#steps input[type=number]").press("Enter")

    page.click("#train-start")
    page.locator("#train-stop").wait_for(state="visible")  # while the run goes
    page.locator("#cycle-plot svg .role-legend-label text").first.wait_for()
    assert_whole_step_ticks(page)  # the first steps: no 0.5, no 1.000000
    page.locator("#train-status", has_text=f"Finished at step {STEPS} / {STEPS}").wait_for()
    page.locator("#train-stop").wait_for(state="hidden")  # the run is over: nothing to stop
    page.wait_for_timeout(1500)  # the last plot and previews are painted
    assert_plot_and_previews_whole(page)
    assert not page.locator("#train-error").is_visible()
    assert_no_label_cut(page, 1280)
    page.screenshot(path=str(ARTIFACTS / "train-desktop.png"), full_page=True)

    page.get_by_text("Publish to the Hugging Face Hub").click()  # the run just made, to the Hub
    page.fill("#publish-repo input, #publish-repo textarea", "alice/red2blue")
    page.fill("#publish-token input", "hf_browserSECRET")
    page.click("#train-publish")
    page.locator("#publish-result", has_text='cyclegan_core.load("alice/red2blue")').wait_for()
    assert pushed == [("red2blue", "alice/red2blue", "hf_browserSECRET", False)]
    # used once, then emptied (by the event that follows the publish, so wait for it)
    page.wait_for_function("() => document.querySelector('#publish-token input').value === ''", timeout=10_000)
    assert "hf_browserSECRET" not in page.content()

    page.set_viewport_size({"width": 390, "height": 844})  # the same page on a phone
    page.get_by_text("More settings").click()
    page.wait_for_timeout(1500)  # laid out and the plot drawn again at its new width
    assert_no_label_cut(page, 390)
    assert_plot_and_previews_whole(page)
    page.screenshot(path=str(ARTIFACTS / "train-phone.png"), full_page=True)


def test_on_a_phone_a_failed_start_keeps_its_message_until_the_next_start(app_url, browser_page, tinted_uploads):
    page, pictures = browser_page, tinted_uploads
    page.set_viewport_size({"width": 390, "height": 844})
    open_train_tab(page, app_url)
    assert not page.locator("#train-stop").is_visible()

    page.get_by_text("Publish to the Hugging Face Hub").click()
    page.fill("#publish-token input", "hf_phoneSECRET")
    page.click("#train-publish")  # no run chosen
    page.locator("#publish-result", has_text="Could not publish:").wait_for()
    assert "choose one of your runs first" in page.inner_text("#publish-result")
    page.wait_for_function("() => document.querySelector('#publish-token input').value === ''")

    page.set_input_files("#files-a input[type=file]", pictures["a"])
    page.locator("#info-a", has_text="3 usable image(s)").wait_for()
    page.click("#train-start")  # no pictures of B
    error = page.locator("#train-error")
    error.wait_for(state="visible")
    page.wait_for_timeout(5000)  # it stays (a toast would go)
    assert error.is_visible() and "domain B has no images yet" in error.inner_text()
    assert "Training failed." in error.inner_text() and error.locator("p").count() >= 2  # title, then the message
    assert not page.locator("#train-stop").is_visible()
    error.scroll_into_view_if_needed()
    assert_no_label_cut(page, 390)
    page.screenshot(path=str(ARTIFACTS / "train-phone-error.png"), full_page=True)

    page.set_input_files("#files-b input[type=file]", pictures["b"])
    page.locator("#info-b", has_text="3 usable image(s)").wait_for()
    page.click("#train-start")  # the next start clears it
    error.wait_for(state="hidden")
    page.locator("#train-stop").wait_for(state="visible")
    page.click("#train-stop")
    page.locator("#train-status", has_text="Stopped at step").wait_for()
    page.locator("#train-stop").wait_for(state="hidden")
