"""demo/translate_tab.py: the Translate tab's handlers, called directly (no server)."""

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
    handlers = TranslateHandlers(cache)
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
    dropdown, extra = handlers.load_model("someone/fruit", [])  # the cache's loader stands in for the Hub
    assert handlers.loaded == ["someone/fruit"]
    assert dropdown["value"] == "someone/fruit: apple → orange"
    assert [t["label"] for t in extra] == ["someone/fruit: apple → orange", "someone/fruit: orange → apple"]
    _, again = handlers.load_model("someone/fruit", extra)
    assert again == extra


@pytest.mark.parametrize("text", ["not a repo", "/etc", "../../x", "~/weights"])
def test_load_model_refuses_what_is_not_a_source_before_loading(handlers, text):
    with pytest.raises(CycleGANError, match="is not a model this app offers"):
        handlers.load_model(text, [])
    assert handlers.loaded == []


def test_image_source_and_fit_to_limit():
    assert image_source("/tmp/x.png") == "/tmp/x.png"
    assert image_source({"url": "data:image/png;base64,aGVsbG8=", "path": None}) == b"hello"
    with pytest.raises(gr.Error, match="did not arrive"):
        image_source({"url": "", "path": None})
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
