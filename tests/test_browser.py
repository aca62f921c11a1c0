"""The Translate tab in a real browser, the way a person uses it."""

from urllib.parse import urlparse

import pytest

from conftest import ARTIFACTS, wait_for_page_load_events, watch_queue

pytestmark = pytest.mark.browser  # Chromium through playwright; the ones over 10 s are also `slow`


def test_upload_choose_translate_and_see_the_result(app_url, browser_page, photo, tmp_path):
    page = browser_page
    path = tmp_path / "horse.png"
    photo.save(path)

    page.goto(app_url)
    page.set_input_files("#input-image input[type=file]", str(path))
    page.locator("#input-image img").first.wait_for()  # the upload is previewed

    page.click("#task input")
    page.click('[role=option][aria-label^="horse → zebra ·"]')  # "… · downloads ≈90 MB on first use"
    assert page.input_value("#task input") == "horse → zebra · downloads ≈90 MB on first use"  # said before the click

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
    assert page.locator("#show-cycle input").is_disabled()  # the default model is one-way: no cycle
    page.click("#task input")
    page.click('[role=option][aria-label^="winter → summer ·"]')
    page.locator("#show-cycle input:enabled").wait_for()
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


@pytest.mark.slow
def test_train_in_the_browser_watch_it_stop_and_translate_with_it(app_url, browser_page, tmp_path, photo,
                                                                  tinted_uploads):
    page = browser_page
    files = tinted_uploads
    page.goto(app_url)
    page.get_by_role("tab", name="Train").click()
    page.fill("#name-a textarea, #name-a input", "red")
    page.fill("#name-b textarea, #name-b input", "blue")
    page.set_input_files("#files-a input[type=file]", files["a"])
    page.set_input_files("#files-b input[type=file]", files["b"])
    page.locator("#info-a", has_text="3 usable image(s)").wait_for()
    page.locator("#info-b", has_text="3 usable image(s)").wait_for()
    page.click("#init input")
    page.get_by_role("option", name="horse2zebra (official, horse ↔ zebra)").click()
    page.get_by_text("More settings").click()
    page.fill("#run-name textarea, #run-name input", "browser-run")

    page.click("#train-start")
    page.locator("#previews img").first.wait_for()  # at least one preview
    page.locator("#train-status", has_text="Step").wait_for()
    page.locator("#loss-plot canvas, #loss-plot svg").first.wait_for()  # the loss plot is drawn
    page.screenshot(path=str(ARTIFACTS / "train.png"), full_page=True)
    page.click("#train-stop")
    page.locator("#train-status", has_text="browser-run: red → blue").wait_for()
    status = page.inner_text("#train-status")
    assert "Stopped at step" in status or "Finished at step" in status

    page.get_by_role("tab", name="Translate").click()
    assert page.input_value("#task input") == "browser-run: red → blue"  # the new model is chosen already
    path = tmp_path / "photo.png"
    photo.save(path)
    page.set_input_files("#input-image input[type=file]", str(path))
    page.locator("#input-image img").first.wait_for()
    page.click("#translate-button")
    page.locator("#translate-info", has_text="red → blue").wait_for()
    output = page.locator("#output-image img").first
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=output.element_handle())
    assert output.evaluate("el => [el.naturalWidth, el.naturalHeight]") == [301, 157]
    page.screenshot(path=str(ARTIFACTS / "translate-with-trained.png"), full_page=True)


@pytest.mark.slow
def test_fine_tune_of_a_full_size_zoo_model_previews_within_a_minute_and_resumes(app_url, browser_page, tmp_path,
                                                                                offline_sandbox, monkeypatch):
    """Acceptance: 9-block zoo-format model, 128² crops, on this CPU: first preview within a minute;
    Stop, then Resume continues from the same step without losing any."""
    import json

    import numpy as np
    from PIL import Image

    from conftest import official_pth_bytes
    from servers import FakeUpstream

    full = {f"{name}.pth": official_pth_bytes(seed, ngf=64, n_blocks=9)
            for seed, name in enumerate(["summer2winter_yosemite", "winter2summer_yosemite"])}
    upstream = FakeUpstream(full)
    with upstream:
        monkeypatch.setenv("CYCLEGAN_UPSTREAM_URL", upstream.url)
        page = browser_page
        rng = np.random.default_rng(1)
        page.goto(app_url)
        page.get_by_role("tab", name="Train").click()
        for key in ("a", "b"):
            paths = []
            for i in range(2):
                path = tmp_path / f"{key}{i}.jpg"
                Image.fromarray(rng.integers(0, 256, (180, 240, 3), dtype=np.uint8)).save(path)
                paths.append(str(path))
            page.set_input_files(f"#files-{key} input[type=file]", paths)
        page.fill("#name-a textarea, #name-a input", "summer")
        page.fill("#name-b textarea, #name-b input", "winter")
        page.locator("#info-b", has_text="2 usable image(s)").wait_for()
        page.click("#init input")
        page.get_by_role("option", name="summer2winter (official, summer ↔ winter)").click()
        assert page.input_value("#crop input") == "128"

        page.click("#train-start")
        page.locator("#previews img").first.wait_for(timeout=60_000)  # the acceptance's minute, as a limit
        page.locator("#train-status", has_text="s/step").wait_for(timeout=60_000)
        page.click("#train-stop")
        page.locator("#train-status", has_text="Stopped at step").wait_for(timeout=120_000)
        # The default name summer2winter is the zoo model's own folder in the store: the run gets
        # another name, and the official model cached there stays what it was.
        run = offline_sandbox / "weights" / "summer2winter-2"
        done = len(json.loads((run / "log.json").read_text())["records"])
        assert done >= 1 and f"Stopped at step {done} / 300" in page.inner_text("#train-status")
        zoo_cache = offline_sandbox / "weights" / "summer2winter"
        assert "Official CycleGAN generators" in (zoo_cache / "config.json").read_text()
        assert not (zoo_cache / "training_state.safetensors").exists()

        assert page.input_value("#resume-run input") == "summer2winter-2"
        page.click("#train-resume")
        page.locator("#train-status", has_text=f"step {done} of 300").wait_for(timeout=60_000)
        page.locator("#train-status", has_text="s/step").wait_for(timeout=120_000)
        page.click("#train-stop")
        page.locator("#train-status", has_text="Stopped at step").wait_for(timeout=120_000)
        records = json.loads((run / "log.json").read_text())["records"]
        assert [r["step"] for r in records] == list(range(1, len(records) + 1)) and len(records) > done
        page.screenshot(path=str(ARTIFACTS / "train-full-size-resumed.png"), full_page=True)
        print(f"stopped at {done}, resumed to {len(records)}")


@pytest.mark.slow
def test_a_second_visitor_cannot_see_stop_resume_download_or_use_the_first_ones_run(
        app_url, browser_page, tmp_path, photo, monkeypatch):
    """Two browser contexts are two visitors. Alice's run is hers alone (also after a reload), until
    the Space is made shared with CYCLEGAN_SHARED_RUNS=1."""
    import numpy as np
    from gradio_client import Client, handle_file
    from PIL import Image

    monkeypatch.delenv("CYCLEGAN_SHARED_RUNS", raising=False)
    alice = browser_page
    bob = alice.context.browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    bob.set_default_timeout(60_000)
    watch_queue(bob)
    rng = np.random.default_rng(3)
    files = {}
    for key in "ab":
        files[key] = []
        for i in range(2):
            path = tmp_path / f"{key}{i}.png"
            Image.fromarray(rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)).save(path)
            files[key].append(str(path))

    alice.goto(app_url)
    alice.get_by_role("tab", name="Train").click()
    for key in "ab":
        alice.set_input_files(f"#files-{key} input[type=file]", files[key])
    alice.locator("#info-b", has_text="2 usable image(s)").wait_for()
    alice.click("#init input")
    alice.get_by_role("option", name="horse2zebra (official, horse ↔ zebra)").click()
    alice.get_by_text("More settings").click()
    alice.fill("#run-name textarea, #run-name input", "alice-run")
    alice.click("#train-start")
    alice.locator("#train-status", has_text="s/step").wait_for()

    bob.goto(app_url)
    bob.get_by_role("tab", name="Train").click()
    bob.locator("#train-start").wait_for()
    wait_for_page_load_events(bob)  # the page load has decided what to show
    assert not bob.locator("#train-stop").is_visible()  # Alice's run is not Bob's to stop: no Stop for him
    assert "Step **" not in alice.inner_text("#train-status") and "Stopped" not in alice.inner_text("#train-status")
    alice.click("#train-stop")
    alice.locator("#train-status", has_text="Stopped at step").wait_for(timeout=120_000)

    def options(page, selector):
        page.click(f"{selector} input")
        labels = page.locator("[role=option]").all_inner_texts()
        page.keyboard.press("Escape")
        return labels

    def offered(page, selector):
        return any("alice-run" in o for o in options(page, selector))

    def reload(page):
        page.reload()
        page.locator("#task input").wait_for()
        wait_for_page_load_events(page)  # the lists are refreshed for this visitor

    reload(alice)  # the browser remembers who Alice is
    alice.get_by_role("tab", name="Train").click()
    assert offered(alice, "#resume-run")
    reload(bob)
    bob.get_by_role("tab", name="Train").click()
    assert not any("alice-run" in o for o in options(bob, "#resume-run"))
    assert not any("alice-run" in o for o in options(bob, "#init"))
    bob.get_by_role("tab", name="Translate").click()
    assert not any("alice-run" in o for o in options(bob, "#task"))
    photo.save(tmp_path / "photo.png")
    bob.set_input_files("#input-image input[type=file]", str(tmp_path / "photo.png"))
    bob.locator("#input-image img").first.wait_for()
    bob.fill("#task input", "alice-run:AtoB")
    bob.keyboard.press("Enter")
    bob.click("#translate-button")
    bob.get_by_text("That is not a model this app offers").first.wait_for()
    bob.screenshot(path=str(ARTIFACTS / "second-visitor.png"), full_page=True)
    # An API caller is one more visitor.
    stranger = Client(app_url, analytics_enabled=False, verbose=False)
    for call in (lambda: stranger.predict("alice-run", 600, api_name="/resume"),
                 lambda: stranger.predict("alice-run", api_name="/download_run"),
                 lambda: stranger.predict(handle_file(str(tmp_path / "photo.png")), "alice-run:AtoB",
                                          api_name="/translate")):
        with pytest.raises(Exception, match="of yours|not a model this app offers|Choose one of the listed options"):
            call()

    monkeypatch.setenv("CYCLEGAN_SHARED_RUNS", "1")  # a classroom Space: every run is everyone's
    reload(bob)
    assert offered(bob, "#task")
    bob.get_by_role("tab", name="Train").click()
    assert offered(bob, "#resume-run")
    bob.context.close()
