"""demo/learn_tab.py: the Learn tab's handlers, called directly (no server)."""

import gradio as gr
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from cyclegan_core import ModelStore, RunError, save_model
from cyclegan_core.teaching.patch_maps import DISCRIMINATORS_NAME, find_discriminators
from demo.learn_tab import LearnHandlers
from demo.model_cache import ModelCache
from conftest import ROOT


@pytest.fixture
def pictures(tmp_path):
    paths = []
    for name, colour in (("x.png", (200, 40, 40)), ("y.png", (40, 40, 200))):
        array = np.zeros((72, 96, 3), np.uint8) + np.array(colour, np.uint8)
        array[20:50, 30:60] = 255 - np.array(colour, np.uint8)
        Image.fromarray(array).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    return paths


@pytest.fixture
def handlers(tiny_model):
    store = ModelStore()
    save_model(tiny_model, store.root / "fruit")
    return LearnHandlers(ModelCache(loader=lambda source: tiny_model), store, toy=())


def test_cycle_shows_forward_backward_and_identity_views_with_their_numbers(handlers, tiny_model, pictures):
    forward, forward_text, backward, backward_text, identity, identity_y, identity_text = handlers.cycle(
        pictures[0], pictures[1], "fruit:AtoB", [])
    assert [c for _, c in forward][:3] == ["x: the input", "G(x): as orange", "F(G(x)): as apple"]
    x = torch.from_numpy(np.asarray(Image.open(pictures[0]), np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = (tiny_model.G_BA(tiny_model.G_AB(x)) - x).abs().mean()
    assert f"{float(expected):.3f}" in forward[3][1] and f"**{float(expected):.3f}**" in forward_text
    assert "$$" in forward_text and "Eq. 2" in forward_text
    assert forward[3][0].size == (96, 72) and len(backward) == 4 and "G(F(y))" in backward[2][1]
    assert len(identity) == 3 and len(identity_y) == 3 and "Sec. 5.2" in identity_text
    _, _, backward, backward_text, identity, identity_y, _ = handlers.cycle(pictures[0], None, "fruit:BtoA", [])
    assert backward == [] and "picture of **apple**" in backward_text and len(identity) == 3 and identity_y == []


def test_hidden_information_plots_both_changes_per_amount(handlers, pictures):
    gallery, perturbed, frame, text = handlers.hidden(pictures[0], "fruit:AtoB", "noise", 8, [])
    assert len(gallery) == 4 and len(perturbed) == 4 and perturbed[1][1] == "G(x), noise σ 8"
    assert isinstance(frame, pd.DataFrame) and set(frame["measure"]) == {"G(x) moved", "F(G(x)) moved"}
    assert list(frame["amount"][::2]) == [0, 1, 2, 4, 8, 16, 32] and "steganography" in text and "× as much" in text
    gallery, perturbed, frame, _ = handlers.hidden(pictures[0], "fruit:AtoB", "jpeg", 50, [])
    assert list(frame["amount"][::2]) == [100, 95, 85, 70, 50, 30, 10]
    with pytest.raises(gr.Error):
        handlers.hidden(pictures[0], "fruit:AtoB", "blur", 1, [])


def test_a_model_without_discriminators_says_so_and_trains_them(handlers, pictures, monkeypatch):
    from demo.visitors import visitor_id
    monkeypatch.setenv("CYCLEGAN_LEARN_D_SECONDS", "2")
    maps, text, button = handlers.discriminator(pictures[0], None, "fruit:AtoB", [], "alice")
    assert "has no discriminators" in text and button["visible"] is True and maps == []
    with pytest.raises(gr.Error, match="real picture of orange"):
        handlers.train_discriminator(pictures[0], None, "fruit:AtoB", [], "alice", progress=lambda *a, **k: None)
    maps, text, button, token = handlers.train_discriminator(pictures[0], pictures[1], "fruit:AtoB", [], "alice",
                                                             progress=lambda *a, **k: None)
    assert token == "alice"
    home = handlers.store.root / "fruit"  # the owner's model: nothing is written there
    assert sorted(p.name for p in home.iterdir()) == ["config.json", "model.safetensors"]
    kept = list((handlers.store.root / ".visitors" / visitor_id("alice") / "discriminators").glob(
        f"*/{DISCRIMINATORS_NAME}"))
    assert len(kept) == 1 and "against its frozen generators" in text
    assert len(maps) == 3 and maps[0][0].size == (96, 72)
    assert maps[0][1].startswith("x by D_A: ") and maps[1][1].startswith("G(x) by D_B: ") and maps[2][1].startswith("y by D_B")
    assert "70×70" in text and "$$" in text
    again = find_discriminators(kept[0].parent)
    assert again is not None and again.origin in text
    assert again.origin in handlers.discriminator(pictures[0], None, "fruit:AtoB", [], "alice")[1]  # found again
    assert "has no discriminators" in handlers.discriminator(pictures[0], None, "fruit:AtoB", [], "bob")[1]


def test_an_api_caller_without_a_token_gets_one_and_finds_its_discriminators_with_it(handlers, pictures,
                                                                                      monkeypatch):
    from demo.visitors import visitor_id
    monkeypatch.setenv("CYCLEGAN_LEARN_D_SECONDS", "1")
    maps, text, _, token = handlers.train_discriminator(pictures[0], pictures[1], "fruit:AtoB", [], None,
                                                        progress=lambda *a, **k: None)
    assert token and len(maps) == 3 and "against its frozen generators" in text
    assert (handlers.store.root / ".visitors" / visitor_id(token)).is_dir()
    assert sorted(p.name for p in (handlers.store.root / "fruit").iterdir()) == ["config.json", "model.safetensors"]
    assert "against its frozen generators" in handlers.discriminator(pictures[0], None, "fruit:AtoB", [], token)[1]
    assert "has no discriminators" in handlers.discriminator(pictures[0], None, "fruit:AtoB", [])[1]


def test_a_trained_run_uses_its_own_discriminators(tmp_path, pictures):
    from cyclegan_core import TrainConfig, train
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, picture in ((a, pictures[0]), (b, pictures[1])):
        folder.mkdir()
        Image.open(picture).save(folder / "0.png")
    store = ModelStore()
    config = TrainConfig(steps=2, crop_size=32, ngf=8, n_blocks=1, ndf=8, n_layers_D=2, preview_every=100,
                         precision="fp32")
    list(train(config, a, b, store.root / "mine"))
    handlers = LearnHandlers(ModelCache(), store, toy=())
    maps, text, button = handlers.discriminator(pictures[0], None, "mine:AtoB", [])
    assert "own discriminators, from its training (step 2)" in text and button["visible"] is False
    assert "34×34" in text and len(maps) == 2  # the 2-layer D of this run; no y, no third map


def test_another_visitors_model_reads_like_a_missing_one(tiny_model, pictures, monkeypatch):
    from cyclegan_core import SourceRefused
    from cyclegan_core.training.runs import RunFolder
    store = ModelStore()
    run = RunFolder(store.root / "theirs")
    save_model(tiny_model, run.path)
    (run.path / "train.json").write_text('{"config": {}, "data_a": "a", "data_b": "b", "owner": "someone-else"}')
    handlers = LearnHandlers(ModelCache(loader=lambda s: tiny_model), store, toy=())
    with pytest.raises((SourceRefused, RunError)):
        handlers.cycle(pictures[0], None, "theirs:AtoB", [], "my-token")


def test_toy_models_are_offered_first_with_examples_and_made_on_first_use(tiny_model, monkeypatch):
    made = []
    monkeypatch.setattr("demo.learn_tab.make_toy_model", lambda name, folder, **kw: made.append(name) or save_model(
        tiny_model, folder))
    handlers = LearnHandlers(ModelCache(loader=lambda s: tiny_model), ModelStore(), toy=("red_blue",))
    assert handlers.choices([], None)[:2] == ["toy: red shapes → blue shapes", "toy: blue shapes → red shapes"]
    examples = handlers.examples()
    assert [row[2] for row in examples] == ["toy: red shapes → blue shapes", "toy: blue shapes → red shapes"]
    assert Image.open(examples[0][0]).size == (64, 64) and "/.toy/examples/red_blue/A_0.png" in examples[0][0]
    told = []
    handlers.cycle(examples[0][0], None, examples[0][2], [], progress=lambda *a, **kw: told.append(kw["desc"]))
    assert told and told[0].startswith("Training the toy model 'red shapes ↔ blue shapes' for its first use")
    handlers.cycle(examples[1][0], None, examples[1][2], [], progress=lambda *a, **kw: told.append(kw["desc"]))
    assert made == ["red_blue"] and len(told) == 1  # trained once (said at once), then kept
    with pytest.raises(gr.Error, match="come with their own discriminators"):
        handlers.train_discriminator(examples[0][0], examples[0][1], examples[0][2], [], progress=None)


def test_one_live_step_shows_every_term_the_pool_and_the_scores(handlers):
    state, status, preview, plot, batch, pool, losses, doctor = handlers.live_step(None, "red_blue", 10, 0.5)
    assert state["run"].step == 1 and len(state["log"]) == 1 and "step 1" in status
    for term in ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"):
        assert f"| `{term}` | {state['log'][0][term]:.4f} |" in losses["value"]
    assert batch["visible"] and batch["value"].size == (6 * 96 + 5 * 2, 4 * 96 + 3 * 2)  # 4 pictures × 6, ×3, 2 px gaps
    assert any(caption == "fresh G(a)" for _, caption in pool["value"]) and "Too early" in doctor
    assert list(plot["value"]["term"].unique()) and set(plot["value"]["step"]) == {1} and plot["x_lim"] == [0, 10]
    state, status, *_ = handlers.live_step(state, "red_blue", 0, 0)  # new λs from the next step on
    assert state["run"].step == 2 and state["run"].lambda_cycle == 0 and state["log"][-1]["idt_A"] == 0
    state, *_ = handlers.live_step(state, "circles_squares", 10, 0.5)  # a new task starts a new run
    assert state["run"].step == 1 and state["task"] == "circles_squares"


def test_live_training_streams_previews_and_ends_with_a_summary(handlers):
    updates = list(handlers.live_train(None, "red_blue", 10, 0.5, seconds=4))
    state = updates[-1][0]
    assert state["run"].step >= 1 and len(state["log"]) == state["run"].step
    assert "steps in" in updates[-1][1] and "Cycle error" in updates[-1][1]
    assert all(u[2] is not None for u in updates[:-1])  # each preview is drawn
    with pytest.raises(gr.Error, match="synthetic tasks"):
        list(handlers.live_train(None, "cats_dogs", 10, 0.5, seconds=1))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A lessons folder holding the shipped cycle lesson alone (tests/test_lessons.py records one)."""
    import shutil
    folder = tmp_path_factory.mktemp("lessons")
    shutil.copytree(ROOT / "demo" / "lessons" / "cycle", folder / "cycle")
    return folder


@pytest.mark.slow
def test_a_lesson_plays_frame_by_frame(tiny_model, recorded):
    handlers = LearnHandlers(ModelCache(loader=lambda s: tiny_model), ModelStore(), toy=(), lessons=recorded)
    assert handlers.lesson_choices() == [("Why the cycle? λ_cycle = 10 vs 0", "cycle")]
    lesson = handlers.lesson("cycle")
    slider, about, picture, metric, losses, text = handlers.lesson_frame("cycle", 99, "cycle_A")
    assert slider["value"] == lesson.frames - 1 == slider["maximum"] and "Eq. 2" in about
    assert picture.size == (12 * 96 + 11 * 2, 2 * (96 + 28))  # a captioned row per variant: 4 × (x, G(x), F(G(x)))
    assert len(metric["value"]) == 2 * lesson.frames and set(losses["value"]["variant"]) == {"λ_cycle = 10: cycle_A",
                                                                                          "λ_cycle = 0: cycle_A"}
    assert metric["x_lim"] == losses["x_lim"] == [0, lesson.steps[-1]]
    assert f"Step {lesson.steps[-1]} of {lesson.steps[-1]}" in text and lesson.outcome in text
    first = handlers.lesson_frame("cycle", 0, "D_B")
    assert len(first[3]["value"]) == 2 and first[0]["value"] == 0
    frames = list(handlers.lesson_play("cycle", lesson.frames - 1, "cycle_A", delay=0))  # at the end: from the start
    assert [f[0]["value"] for f in frames] == list(range(lesson.frames))
    with pytest.raises(gr.Error, match="Choose one of the lessons: cycle"):
        handlers.lesson_frame("nope", 0)


class NoNetwork:
    """A `Reachability` that finds no network: zoo models not here cannot be had."""

    def why_not(self):
        return "no network"


def test_offline_with_an_empty_store_every_listed_model_works_and_a_visitors_run_is_listed(tiny_model, pictures,
                                                                                         monkeypatch, offline_sandbox):
    from cyclegan_core import TrainConfig
    from demo.visitors import visitor_id
    monkeypatch.setattr("demo.learn_tab.make_toy_model", lambda name, folder, **kw: save_model(tiny_model, folder))
    store = ModelStore()
    handlers = LearnHandlers(ModelCache(), store, reach=NoNetwork())
    options = handlers.options([], "alice-token")
    assert [label for _, label in options] == [t.label for t in handlers.toy_tasks()]  # no zoo model offline
    assert handlers.options([], None, probe=False) == options  # the start-up list: nothing more to add offline
    for _, label in options:  # each one answers in the Cycle view
        assert "Cycle error of this picture" in handlers.cycle(pictures[0], None, label, [], "alice-token")[1]

    run = store.new_run("apples", visitor_id("alice-token"))  # Alice trained a run: it is hers in the list
    save_model(tiny_model, run.path)
    run.write_record(TrainConfig(), run.path, run.path, owner=visitor_id("alice-token"))
    mine = [label for _, label in handlers.options([], "alice-token")]
    assert "apples: apple → orange" in mine and "apples: orange → apple" in mine
    assert "apples: apple → orange" not in [label for _, label in handlers.options([], "bob-token")]
    update = handlers.refresh("gone", [], "alice-token")  # what opening the tab does
    assert update["value"] == options[0][1] and ("apples: apple → orange", "apples: apple → orange") in \
        update["choices"]
    assert "Cycle error" in handlers.cycle(pictures[0], None, "apples: apple → orange", [], "alice-token")[1]


def test_a_missing_picture_is_said_before_any_model_is_made(monkeypatch):
    monkeypatch.setattr("demo.learn_tab.make_toy_model", lambda *a, **kw: pytest.fail("no model is needed yet"))
    handlers = LearnHandlers(ModelCache(), ModelStore(), toy=("red_blue",))
    for view in (lambda: handlers.cycle(None, None, "toy: red shapes → blue shapes", []),
                 lambda: handlers.discriminator(None, None, "toy: red shapes → blue shapes", []),
                 lambda: handlers.hidden(None, "toy: red shapes → blue shapes", "noise", 8, [])):
        with pytest.raises(gr.Error, match="Add a picture first"):
            view()


def test_pause_ends_a_playing_lesson_between_two_frames(tiny_model, recorded):
    handlers = LearnHandlers(ModelCache(loader=lambda s: tiny_model), ModelStore(), toy=(), lessons=recorded)
    play = handlers.lesson_play("cycle", 0, "cycle_A", play="page-1", delay=0)
    assert next(play)[0]["value"] == 0 and next(play)[0]["value"] == 1
    handlers.pause_lesson("page-2")  # another page's pause: not this play's
    assert next(play)[0]["value"] == 2
    handlers.pause_lesson("page-1")
    assert list(play) == [] and handlers.playing == set() and handlers.paused == set()
    handlers.pause_lesson("page-1")  # a pause after the end keeps nothing
    assert handlers.paused == set()


def test_the_loss_table_keeps_its_formulas_in_their_cells(handlers):
    *_, losses, _ = handlers.live_step(None, "red_blue", 10, 0.5)
    row = next(line for line in losses["value"].splitlines() if line.startswith("| `cycle_A` |"))
    cells = row.strip("|").split("|")
    assert len(cells) == 3 and "λ · ‖F(G(a)) − a‖₁" in cells[2]


def test_a_zoo_model_that_cannot_be_had_points_to_what_works_in_this_tab(pictures, offline_sandbox):
    handlers = LearnHandlers(ModelCache(), ModelStore(), toy=())
    told = []
    with pytest.raises(gr.Error, match="toy models .* always work, offline too") as raised:
        handlers.cycle(pictures[0], None, "horse → zebra", [], progress=lambda *a, **kw: told.append(kw["desc"]))
    assert "horse → zebra cannot be used right now" in raised.value.message and "vintage" not in raised.value.message
    assert told == ["Loading the model of horse → zebra…"]


def test_why_videos_flicker_shows_a_pan_frame_by_frame_and_as_one_shot(handlers, pictures, tmp_path):
    from skimage import data
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    gallery, text = handlers.flicker(str(photo), "fruit:AtoB", [])
    assert [c for _, c in gallery] == [f"frame {i}: its own statistics" for i in range(1, 5)] + [
        f"frame {i}: the shot's" for i in range(1, 5)]
    assert all(isinstance(image, Image.Image) for image, _ in gallery)
    assert "Why CycleGAN videos flicker" in text and "less flicker" in text
    numbers = [float(n) for n in __import__("re").findall(r"\*\*([0-9.]+)\*\*", text)]
    assert len(numbers) == 2 and numbers[1] < numbers[0]  # the shot's statistics flicker less
