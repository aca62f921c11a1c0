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


def test_choosing_a_task_shows_its_card_examples_of_its_input_and_no_cycle_for_one_way(tiny_model, offline_sandbox):
    from demo.example_pictures import ExamplePictures
    handlers = TranslateHandlers(ModelCache(loader=lambda source: tiny_model), reach=FixedReach("no network"))
    status, card, gallery, cycle, error = handlers.choose("zebra → horse", [])
    assert status == "✖ Unavailable offline: its weights are not on this server"
    assert "ImageNet" in card and "Known limits" in card and "Licence" in card
    assert gallery["visible"] and gallery["label"] == "Examples of zebra (click one)"
    zebras = {str(p.path) for p in ExamplePictures().for_domain("zebra")}
    assert zebras and {path for path, _ in gallery["value"]} == zebras
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
    image, facts, error, cycle, info = handlers.translate_on_page(str(tmp_path / "p.png"), "summer → winter", [])
    assert image is None and facts == {} and error["visible"] and cycle["visible"] is False and info == ""
    assert "is not available here.  \nChoose a task marked ready." in error["value"]  # a Markdown line break
    assert "/srv/path" not in error["value"]
    ok = TranslateHandlers(ModelCache(loader=lambda source: tiny_model), reach=FixedReach(None))
    image, facts, error, _, _ = ok.translate_on_page(str(tmp_path / "p.png"), "someone/x:AtoB", [])
    assert image.size == photo.size and facts["what"] == "apple → orange" and error["visible"] is False


def test_a_one_way_model_describes_itself_without_a_cycle(tiny_model, photo, tmp_path):
    from cyclegan_core import CycleGAN
    one_way = CycleGAN(tiny_model.config.replace(one_way=True))
    handlers = TranslateHandlers(ModelCache(loader=lambda source: one_way), reach=FixedReach(None))
    photo.save(tmp_path / "p.png")
    photo = str(tmp_path / "p.png")
    image, facts = handlers.translate(photo, "someone/style:AtoB", [])
    reconstruction, text = handlers.describe(image, facts, True)
    assert reconstruction["visible"] is False and "no cycle to show" in text
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
