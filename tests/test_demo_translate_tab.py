"""demo/translate_tab.py: the Translate tab's handlers, called directly (no server)."""

import threading
import time

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from cyclegan_core import CycleGANError
from demo.model_cache import ModelCache
from demo.translate_tab import TranslateHandlers, fit_to_limit, image_source


@pytest.fixture
def handlers(tiny_model):
    loaded = []
    cache = ModelCache(loader=lambda source: loaded.append(source) or tiny_model)
    handlers = TranslateHandlers(cache, reach=FixedReach(None))
    handlers.loaded = loaded
    return handlers


def test_translate_returns_the_cores_result_and_facts(handlers, tiny_model, photo, tmp_path):
    path = tmp_path / "p.png"
    photo.save(path)
    image, facts = handlers.translate(str(path), "someone/fruit:BtoA", [])
    assert handlers.loaded == ["someone/fruit"]
    assert np.array_equal(np.asarray(image), np.asarray(tiny_model.translate(photo, "BtoA")))
    assert (facts["what"], facts["size"], facts["direction"], facts["note"]) == ("orange → apple", (301, 157),
                                                                                 "BtoA", "")
    assert facts["seconds"] > 0 and facts["precision"] in ("fp32", "bf16")


def test_translate_downscales_large_images_with_a_note(handlers, monkeypatch, tmp_path):
    monkeypatch.setenv("CYCLEGAN_APP_MAX_PIXELS", str(100 * 50))
    path = tmp_path / "big.png"
    Image.new("RGB", (400, 200), "green").save(path)
    image, facts = handlers.translate({"path": str(path), "url": ""}, "someone/x:AtoB", None)
    assert image.size == (100, 50) and facts["note"].startswith("Downscaled from 400×200 to 100×50")


def test_translate_refuses_missing_images_and_unknown_tasks(handlers, tmp_path):
    with pytest.raises(gr.Error, match="Add an image first"):
        handlers.translate(None, "someone/x:AtoB", [])
    with pytest.raises(CycleGANError, match="unknown task 'cat → dog'"):
        handlers.translate(str(tmp_path / "p.png"), "cat → dog", [])
    assert handlers.loaded == []


def test_describe_shows_timing_and_on_request_the_cycle(handlers, tiny_model, photo):
    facts = {"source": "x", "direction": "AtoB", "what": "apple → orange", "size": (301, 157), "seconds": 0.5,
             "note": "", "device": "cpu", "precision": "fp32", "provenance": "made in a test", "license": ""}
    hidden, text = handlers.describe(photo, facts, False)
    assert hidden["visible"] is False and text.startswith("**apple → orange** · 301×157 px · 0.50 s (fp32 on cpu)")
    assert "made in a test" in text and "Cycle:" not in text
    shown, text = handlers.describe(photo, facts, True)
    assert shown["visible"] is True and "Cycle: orange → apple" in text and "Eq. 2" in text
    assert np.array_equal(np.asarray(shown["value"]), np.asarray(tiny_model.translate(photo, "BtoA")))
    assert handlers.describe(None, {}, True) == (gr.skip(), gr.skip())


def test_load_model_adds_both_directions_once(handlers):
    with pytest.raises(gr.Error, match="Type a Hub repo id"):
        handlers.load_model("  ", [])
    dropdown, extra, group = handlers.load_model("someone/fruit", [])  # the cache's loader stands in for the Hub
    assert handlers.loaded == ["someone/fruit"]
    assert dropdown["value"] == "someone/fruit: apple → orange"
    assert [t["label"] for t in extra] == ["someone/fruit: apple → orange", "someone/fruit: orange → apple"]
    assert "From the Hub" in group["choices"] and ("someone/fruit: apple → orange",) * 2 in dropdown["choices"]
    _, again, _ = handlers.load_model("someone/fruit", extra)
    assert again == extra


@pytest.mark.parametrize("text", ["not a repo", "/etc", "../../x", "~/weights"])
def test_load_model_refuses_what_is_not_a_source_before_loading(handlers, text):
    with pytest.raises(CycleGANError, match="is not a model this app offers"):
        handlers.load_model(text, [])
    assert handlers.loaded == []


def test_image_source_and_fit_to_limit():
    assert image_source("/tmp/x.png") == "/tmp/x.png"
    assert image_source({"path": "/tmp/x.png", "url": "/gradio_api/file=/tmp/x.png"}) == "/tmp/x.png"
    for payload in ({"url": "data:image/png;base64,aGVsbG8=", "path": None}, {"url": "", "path": None}, 42):
        with pytest.raises(gr.Error, match="did not arrive"):  # only files Gradio received (the door checks where)
            image_source(payload)
    image = Image.new("RGB", (30, 20))
    assert fit_to_limit(image, 600) == (image, "")
    smaller, note = fit_to_limit(image, 150)
    assert smaller.size == (15, 10) and "15×10" in note


def test_a_visitors_runs_are_listed_and_usable_only_by_them(tiny_model, offline_sandbox, photo, monkeypatch, tmp_path):
    from cyclegan_core import ModelStore, TrainConfig, save_model
    from demo.translate_tab import task_choices
    from demo.visitors import visitor_id

    store = ModelStore()
    save_model(tiny_model, store.root / "placed")  # by the Space's owner: everyone's
    run = store.new_run("alices")
    save_model(tiny_model, run.path)
    run.write_record(TrainConfig(), "a", "b", owner=visitor_id("alice"))
    handlers = TranslateHandlers(ModelCache(loader=lambda source: tiny_model), store)
    photo.save(tmp_path / "p.png")
    photo = str(tmp_path / "p.png")
    assert "alices: apple → orange" in task_choices([], "alice")
    assert "alices: apple → orange" not in task_choices([], "bob") and "placed: apple → orange" in task_choices([], "bob")
    assert handlers.translate(photo, "alices:AtoB", [], "alice")[0].size == (301, 157)
    for text in ("alices:AtoB", "alices: apple → orange"):
        with pytest.raises(CycleGANError, match="not a model this app offers|unknown task"):
            handlers.translate(photo, text, [], "bob")
    with pytest.raises(CycleGANError, match="not a model this app offers"):
        handlers.load_model("alices", [], "bob")
    monkeypatch.setenv("CYCLEGAN_SHARED_RUNS", "1")
    assert handlers.translate(photo, "alices:AtoB", [], "bob")[0].size == (301, 157)


def test_the_device_path_sends_a_visitors_run_only_to_them_and_a_refusal_sends_nothing(tiny_model, offline_sandbox,
                                                                                      photo, tmp_path):
    from cyclegan_core import ModelStore, TrainConfig, save_model
    from demo.device import DeviceModels
    from demo.visitors import visitor_id

    store = ModelStore()
    run = store.new_run("alices")
    save_model(tiny_model, run.path)
    run.write_record(TrainConfig(), "a", "b", owner=visitor_id("alice"))
    models = DeviceModels(TranslateHandlers(ModelCache(loader=lambda source: tiny_model), store, reach=FixedReach(None)))
    photo.save(tmp_path / "p.png")
    assert list(models.model_on_page(str(tmp_path / "p.png"), "alices:AtoB", [], "alice"))[-1][0].endswith(".onnx")
    path, info = models.model_for("alices:AtoB", [], "alice")
    assert path.endswith(".onnx") and info["bytes"] > 0 and len(info["sha256"]) == 64
    assert info["flops_per_pixel"] > 0 and info["precision"] in ("fp16", "fp32")
    for text in ("alices:AtoB", "../../etc/passwd:AtoB", "/etc:AtoB"):
        with pytest.raises(CycleGANError):
            models.model_for(text, [], "bob")
    steps = list(models.model_on_page(str(tmp_path / "p.png"), "alices:AtoB", [], "bob"))
    assert steps[-1][0] is None and steps[-1][1] is None  # no file, no facts: nothing runs in the page
    assert "not a model this app offers" in steps[-1][2]["value"]


class FixedReach:
    """Stands in for `availability.Reachability`: the zoo's sources answer, or not."""

    def __init__(self, reason):
        self.reason = reason

    def why_not(self):
        return self.reason


def test_offline_the_zoo_is_marked_unavailable_and_the_builtin_default_is_ready(tiny_model, offline_sandbox):
    from cyclegan_core import save_model
    from demo.translate_tab import DEFAULT_TASK
    save_model(tiny_model, offline_sandbox / "weights" / "horse2zebra")  # fetched earlier: ready offline
    handlers = TranslateHandlers(ModelCache(loader=lambda source: tiny_model), reach=FixedReach("no network"))
    shown = dict((value, text) for text, value in handlers.options([]))
    assert shown[DEFAULT_TASK] == DEFAULT_TASK  # built in: nothing to add
    assert shown["horse → zebra"] == "horse → zebra"  # here already
    assert shown["summer → winter"] == "summer → winter · unavailable offline: its weights are not on this server"
    assert len(shown) == 1 + 18
    online = TranslateHandlers(ModelCache(loader=lambda source: tiny_model), reach=FixedReach(None))
    assert dict((v, t) for t, v in online.options([]))["apple → orange"] == "apple → orange · downloads ≈90 MB on first use"
    assert dict((v, t) for t, v in online.options([]))["photo → Monet painting"].endswith("≈45 MB on first use")
    paintings = [v for _, v in handlers.options([], group="Paintings")]
    assert paintings == ["Monet painting → photo", "photo → Monet painting", "photo → Cézanne painting",
                         "photo → ukiyo-e print", "photo → Van Gogh painting"]
    assert handlers.groups([])[:3] == ["All tasks", "Built in (works offline)", "Seasons"]
    assert handlers.choose_group("Fruit", "horse → zebra", [])["value"] == "apple → orange"


def test_a_chosen_task_whose_model_is_here_is_loaded_ahead_and_nothing_is_downloaded(tiny_model, offline_sandbox):
    from cyclegan_core import save_model
    from demo.translate_tab import DEFAULT_TASK
    save_model(tiny_model, offline_sandbox / "weights" / "horse2zebra")  # fetched earlier: here
    loaded = []
    cache = ModelCache(loader=lambda source: loaded.append(source) or tiny_model)
    handlers = TranslateHandlers(cache, reach=FixedReach(None))
    for task in ("summer → winter", "owner/not-here", "no such task"):  # downloads first, or not a task
        handlers.prefetch(task, [])
    for task, source in (("horse → zebra", "horse2zebra"), (DEFAULT_TASK, "vintage")):
        handlers.prefetch(task, [])
        deadline = time.monotonic() + 30
        while handlers.usable(source, None) not in cache and time.monotonic() < deadline:
            time.sleep(0.02)
    assert loaded == ["horse2zebra", "vintage"]


def test_choosing_a_task_shows_its_card_examples_of_its_input_and_no_cycle_for_one_way(tiny_model, offline_sandbox):
    from demo.example_pictures import ExamplePictures
    handlers = TranslateHandlers(ModelCache(loader=lambda source: tiny_model), reach=FixedReach("no network"))
    status, card, gallery, cycle, error = handlers.choose("zebra → horse", [])
    assert status == "✖ Unavailable offline: its weights are not on this server"
    assert "ImageNet" in card and "Known limits" in card and "Licence" in card
    assert gallery["visible"] and gallery["label"] == "Examples of zebra (click one)"
    zebras = ExamplePictures().for_domain("zebra")
    assert zebras and gallery["value"] == [str(p.path) for p in zebras]  # pictures alone: credits in the card
    assert f"1. {zebras[0].caption}" in card and "**Example pictures**" in card
    assert cycle["interactive"] is True and error == {"__type__": "update", "value": "", "visible": False}
    status, card, gallery, cycle, _ = handlers.choose("photo → Van Gogh painting", [])
    assert "one-way" in status and "one-way" in card and cycle["interactive"] is False and cycle["value"] is False
    status, card, _, _, _ = handlers.choose("modern photo → vintage photo", [])
    assert status == "✔ Ready · built in, works offline · one-way: no reverse direction, no cycle"
    assert "vintagify" in card


def test_the_page_shows_a_failure_in_a_box_that_keeps_its_line_breaks(tiny_model, offline_sandbox, photo, tmp_path):
    from cyclegan_core import ModelNotFoundError

    def unavailable(source):
        raise ModelNotFoundError("secret /srv/path", public="zoo model 'summer2winter' is not available here.\n"
                                                              "Choose a task marked ready.")
    handlers = TranslateHandlers(ModelCache(loader=unavailable), reach=FixedReach("no network"))
    photo.save(tmp_path / "p.png")
    *_, last = handlers.translate_on_page(str(tmp_path / "p.png"), "summer → winter", [])
    image, facts, error, cycle, info, progress, cancel = last
    assert image["value"] is None and facts == {} and error["visible"] and cycle["visible"] is False and info == ""
    assert progress["visible"] is False and cancel["visible"] is False
    assert "is not available here.  \nChoose a task marked ready." in error["value"]  # a Markdown line break
    assert "/srv/path" not in error["value"]
    ok = TranslateHandlers(ModelCache(loader=lambda source: tiny_model), reach=FixedReach(None))
    *_, last = ok.translate_on_page(str(tmp_path / "p.png"), "someone/x:AtoB", [])
    image, facts, error = last[:3]
    assert image["value"].size == photo.size and facts["what"] == "apple → orange" and error == gr.skip()
    *_, last = ok.translate_on_page(None, "someone/x:AtoB", [])
    assert "Add an image first" in last[2]["value"]


def test_a_one_way_model_describes_itself_without_a_cycle(tiny_model, photo, tmp_path):
    from cyclegan_core import CycleGAN
    one_way = CycleGAN(tiny_model.config.replace(one_way=True))
    handlers = TranslateHandlers(ModelCache(loader=lambda source: one_way), reach=FixedReach(None))
    photo.save(tmp_path / "p.png")
    photo = str(tmp_path / "p.png")
    image, facts = handlers.translate(photo, "someone/style:AtoB", [])
    reconstruction, text = handlers.describe(image, facts, True)
    assert reconstruction["visible"] is False and "no cycle to show" in text
    assert "cycle" not in handlers.describe(image, facts, False)[1].lower()  # not said under every result
    with pytest.raises(CycleGANError, match="one-way"):
        handlers.translate(photo, "someone/style:BtoA", [])


def test_an_example_is_picked_by_its_place_in_the_tasks_list_never_by_a_path_from_the_page(tiny_model):
    handlers = TranslateHandlers(ModelCache(loader=lambda source: tiny_model), reach=FixedReach(None))
    horses = handlers.task_examples("horse → zebra", [])
    assert horses and all("horse" in p.domains for p in horses)
    picked, error = handlers.pick_example("horse → zebra", [], None, gr.SelectData(None, {"index": 0, "value": "/etc/passwd"}))
    assert picked["value"] == str(horses[0].path) and error["visible"] is False
    assert handlers.pick_example("horse → zebra", [], None, gr.SelectData(None, {"index": 99, "value": None})) == (gr.skip(), gr.skip())
    assert handlers.task_examples("cat → dog", []) == []


class Slow:
    """Stands in for a model whose full-resolution pass (the call with a progress callback) goes through
    the real model, `delay` seconds slower per progress call; `outcomes` records how each pass ended."""

    def __init__(self, model, delay: float = 0.02, fail: BaseException | None = None):
        self.model, self.delay, self.fail = model, delay, fail
        self.outcomes = []
        self.progress_calls = 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def translate(self, image, direction, precision="auto", max_pixels=None, progress=None):
        if progress is None:
            return self.model.translate(image, direction)

        def slowly(fraction):
            self.progress_calls += 1
            time.sleep(self.delay)
            progress(fraction)

        try:
            if self.fail is not None:
                raise self.fail
            result = self.model.translate(image, direction, progress=slowly)
        except BaseException as e:
            self.outcomes.append(e)
            raise
        self.outcomes.append("finished")
        return result


def slow_handlers(model) -> TranslateHandlers:
    handlers = TranslateHandlers(ModelCache(loader=lambda source: model), reach=FixedReach(None), poll_seconds=0.05)
    handlers.speeds.record(("someone/x", "cpu"), 1, 1.0)  # a crawl: previews of 0.05 MP
    return handlers


def translation_threads() -> list:
    from demo.progress import Worker
    return [t for t in threading.enumerate() if t.name == Worker.THREAD_NAME]


def test_the_page_shows_a_preview_then_progress_then_the_full_resolution_result(tiny_model, photo, tmp_path,
                                                                                monkeypatch):
    from demo.progress import SpeedRecord
    from demo.translate_tab import PAGE_OUTPUTS, RESULT_LABEL
    # The torch path reports progress layer by layer, so even this tiny model's pass reports several times;
    # a runtime's pass (OpenVINO, where the CPU has native bf16) reports by polling, and this one lasts milliseconds.
    monkeypatch.setenv("CYCLEGAN_BACKEND", "torch")
    slow = Slow(tiny_model)
    handlers = slow_handlers(slow)
    picture = photo.resize((420, 260))  # 109 200 pixels: over twice the preview's 50 000
    picture.save(tmp_path / "p.png")
    yields = [dict(zip(PAGE_OUTPUTS, y)) for y in handlers.translate_on_page(str(tmp_path / "p.png"),
                                                                             "someone/x:AtoB", [])]
    first, preview, *running, last = yields
    assert first["image"]["value"] is None and first["details"] == {} and first["error"]["visible"] is False
    assert "Loading the model…" in first["progress"]["value"] and first["progress"]["visible"]
    assert first["cancel"]["visible"]

    assert preview["image"]["value"].size == (284, 175) and preview["image"]["label"].startswith("Preview (284×175)")
    assert np.array_equal(np.asarray(preview["image"]["value"]),
                          np.asarray(tiny_model.translate(picture.resize((284, 175), Image.Resampling.LANCZOS),
                                                          "AtoB")))
    assert "Full resolution (420×260): <strong>0 %</strong>" in preview["progress"]["value"]
    assert "s left" in preview["progress"]["value"]  # expected from the preview's measured speed

    assert len(running) >= 3
    for shown in running:  # only the progress box changes meanwhile
        assert all(shown[name] == gr.skip() for name in PAGE_OUTPUTS if name != "progress")
        assert "<progress" in shown["progress"]["value"] and "Full resolution (420×260)" in shown["progress"]["value"]
    percents = [int(s["progress"]["value"].split('value="')[1].split('"')[0]) for s in running]
    assert percents == sorted(percents) and percents[-1] > 0

    result = last["image"]["value"]
    assert last["image"]["label"] == RESULT_LABEL and result.size == (420, 260)
    assert np.array_equal(np.asarray(result), np.asarray(tiny_model.translate(picture, "AtoB")))
    assert last["details"]["preview"] == (284, 175) and last["details"]["size"] == (420, 260)
    assert last["progress"] == {"__type__": "update", "value": "", "visible": False}  # `settle` leaves it so
    assert last["cancel"]["visible"] is False
    assert slow.outcomes == ["finished"] and translation_threads() == []
    _, text = handlers.describe(result, last["details"], False)
    assert text.startswith("**apple → orange** · 420×260 px") and "preview first at 284×175" in text
    assert handlers.speeds.speed(("someone/x", "cpu")) > 1000  # measured: the next preview is sized by it
    assert isinstance(handlers.speeds, SpeedRecord)


def test_small_pictures_skip_the_preview_but_show_progress(tiny_model, photo, tmp_path):
    from demo.translate_tab import PAGE_OUTPUTS
    handlers = slow_handlers(Slow(tiny_model))
    photo.save(tmp_path / "p.png")  # 301×157: less than twice the preview
    first, *running, last = [dict(zip(PAGE_OUTPUTS, y)) for y in handlers.translate_on_page(
        str(tmp_path / "p.png"), "someone/x:AtoB", [])]
    assert first["image"]["value"] is None and running
    assert all(r["image"] == gr.skip() and "<progress" in r["progress"]["value"] for r in running)
    assert last["image"]["value"].size == (301, 157) and "preview" not in last["details"]


def test_a_turned_jpeg_is_previewed_upright_from_a_reduced_decode(tiny_model, photo, tmp_path):
    from PIL import ExifTags

    from cyclegan_core import load_image
    from demo.translate_tab import picture_size, preview_picture
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored sideways: shown turned by 90°
    path = tmp_path / "turned.jpg"
    photo.resize((1600, 800)).save(path, quality=95, exif=exif)
    assert picture_size(str(path)) == (800, 1600) == load_image(str(path)).size
    assert picture_size(path.read_bytes()) == (800, 1600)
    quick = preview_picture(str(path), (100, 200))
    assert quick.size == (100, 200)
    full = load_image(str(path)).resize((100, 200), Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(quick, dtype=int) - np.asarray(full, dtype=int)).mean() < 4  # the same picture
    assert picture_size(str(tmp_path / "missing.png")) is None
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    assert picture_size(str(tmp_path / "bad.jpg")) is None


def test_closing_the_page_generator_stops_the_translation_at_once(tiny_model, photo, tmp_path):
    """What Cancel (or a closed page) does: Gradio closes the generator; the worker thread stops within
    one progress call, long before the translation would have finished."""
    from demo.progress import Cancelled
    from demo.translate_tab import PAGE_OUTPUTS
    slow = Slow(tiny_model, delay=0.2)  # 40 progress calls: 8 s more, if nothing stopped it
    handlers = slow_handlers(slow)
    photo.resize((420, 260)).save(tmp_path / "p.png")
    stages = handlers.translate_on_page(str(tmp_path / "p.png"), "someone/x:AtoB", [])
    for shown in stages:
        shown = dict(zip(PAGE_OUTPUTS, shown))
        if shown["image"] == gr.skip():  # the full-resolution pass is running
            break
    running = translation_threads()
    assert len(running) == 1
    calls_before = slow.progress_calls
    stages.close()
    running[0].join(timeout=10)  # a limit for the wait only
    assert translation_threads() == []
    assert slow.progress_calls - calls_before <= 1  # only the call under way when it closed
    assert len(slow.outcomes) == 1 and isinstance(slow.outcomes[0], Cancelled)  # stopped, never finished
    # After the run, a box that still shows progress means it was cancelled: it says so.
    box, button, label = TranslateHandlers.settle(shown["progress"]["value"], {"path": "preview.png"})
    assert "Cancelled" in box["value"] and box["visible"] and button["visible"] is False
    assert label["label"] == "Preview only (cancelled)"
    assert TranslateHandlers.settle(shown["progress"]["value"], None)[2]["label"].startswith("Translated")
    assert TranslateHandlers.settle("", {"path": "result.png"}) == (gr.skip(),) * 3  # finished, or failed


def test_a_failure_of_the_full_resolution_pass_replaces_the_preview_with_the_error(tiny_model, photo, tmp_path):
    from demo.translate_tab import PAGE_OUTPUTS
    handlers = slow_handlers(Slow(tiny_model, fail=MemoryError()))
    photo.resize((420, 260)).save(tmp_path / "p.png")
    yields = [dict(zip(PAGE_OUTPUTS, y)) for y in handlers.translate_on_page(str(tmp_path / "p.png"),
                                                                             "someone/x:AtoB", [])]
    assert yields[1]["image"]["value"].size == (284, 175)  # the preview came first
    last = yields[-1]
    assert last["image"]["value"] is None and last["details"] == {} and "Out of memory" in last["error"]["value"]
    assert last["progress"] == {"__type__": "update", "value": "", "visible": False}  # not taken for a Cancel
    assert last["cancel"]["visible"] is False and translation_threads() == []
