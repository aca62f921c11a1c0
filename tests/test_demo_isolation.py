"""Visitors of a public Space, across the three tabs (handlers called directly, tiny models):

1. the models the Space's owner placed in the store keep every byte whatever a visitor does;
2. another visitor's run answers exactly like a missing one, in every event;
3. run names live per visitor: two visitors may both call a run "cats".
"""

import hashlib
import zipfile

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from cyclegan_core import ModelStore, TrainConfig, load_model, save_model, train
from cyclegan_core.teaching.patch_maps import DISCRIMINATORS_NAME
from cyclegan_core.training.loop import StepDone
from demo.errors import user_errors
from demo.learn_tab import LearnHandlers
from demo.model_cache import ModelCache
from demo.train_tab import OUTPUTS, TrainHandlers
from demo.training import TrainingSlot
from demo.translate_tab import TranslateHandlers
from demo.visitors import visitor_id

from conftest import noise_pictures

ALICE, BOB = "alice-token", "bob-token"
STATUS, DOWNLOAD, TASK, RUNS = (OUTPUTS.index(name) for name in ("status", "download", "task", "run_choice"))


def no_progress(*args, **kwargs):
    pass


def statuses(outputs):
    return [o[STATUS] for o in outputs if isinstance(o[STATUS], str)]


def fingerprint(folder):
    """Every file under `folder` with the SHA-256 of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def picture(path, colour, size=(48, 40)):
    array = np.zeros((size[1], size[0], 3), np.uint8) + np.array(colour, np.uint8)
    array[10:30, 12:36] = 255 - np.array(colour, np.uint8)
    Image.fromarray(array).save(path)
    return str(path)


@pytest.fixture
def pictures(tmp_path):
    return picture(tmp_path / "x.png", (200, 40, 40)), picture(tmp_path / "y.png", (40, 40, 200))


@pytest.fixture
def placed(offline_sandbox, tmp_path):
    """A resumable run the Space's owner made with the CLI's train (no owner): step 2 of 3, with its
    log, training state and previews, training on folders of the owner's."""
    noise_pictures(tmp_path, {"a": 2, "b": 2}, size=(40, 40), subfolders=True)
    config = TrainConfig(steps=3, ngf=8, n_blocks=1, ndf=8, n_layers_D=2, load_size=36, crop_size=32, precision="fp32",
                         preview_every=1, checkpoint_every=100, domain_a="apple", domain_b="orange")
    stream = train(config, tmp_path / "a", tmp_path / "b", ModelStore().root / "placed")
    for event in stream:
        if isinstance(event, StepDone) and event.step == 2:
            break
    stream.close()
    return ModelStore().root / "placed"


def train_handlers():
    return TrainHandlers(ModelCache(), TrainingSlot())


def test_an_owners_run_keeps_every_byte_whatever_visitors_do_in_any_tab(placed, pictures, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_LEARN_D_SECONDS", "1")
    before = fingerprint(placed)
    assert {"train.json", "log.json", "training_state.safetensors", "previews/step_000001.png"} <= set(before)
    store = ModelStore()
    handlers = train_handlers()

    # Train tab: the doctor, a download and Resume, which trains a new run of Alice's own.
    assert handlers.doctor("placed", ALICE).startswith("Too early to tell: 2 step(s)")
    with zipfile.ZipFile(handlers.download("placed", ALICE)) as z:
        assert sorted(z.namelist()) == ["placed/config.json", "placed/model.safetensors"]
    outputs = list(handlers.resume("placed", 4, [], ALICE, progress=no_progress))
    texts = statuses(outputs)
    assert texts[0].startswith("`placed` was placed here by the owner of this app: it stays as it is, and your own "
                               "run `placed-2` continues it. Resuming **apple ↔ orange** in `placed-2`")
    assert "step 2 of 4" in texts[0] and texts[-1].startswith("Finished at step **4 / 4**")
    assert outputs[-1][RUNS] == {"__type__": "update", "choices": ["placed", "placed-2"], "value": "placed-2"}
    assert outputs[-1][TASK]["value"] == "placed-2: apple → orange"
    mine = {m.name: m for m in handlers.models(ALICE)}["placed-2"]
    assert mine.owner == visitor_id(ALICE) and mine.resumable and mine.path != placed
    assert [r["step"] for r in handlers.own_run("placed-2", ALICE).read_log()] == [1, 2, 3, 4]  # its log, continued
    assert "placed-2" not in [m.name for m in handlers.models(BOB)]
    # Resuming Alice's own run goes on in it; a refused one leaves no copy behind.
    assert statuses(list(handlers.resume("placed-2", 5, [], ALICE, progress=no_progress)))[-1].startswith(
        "Finished at step **5 / 5**")
    with handlers.slot.hold(store.root / "elsewhere"):
        with pytest.raises(Exception, match="a training run is already using"):
            list(handlers.resume("placed", 6, [], BOB, progress=no_progress))
    assert sorted(p.name for p in store.root.iterdir()) == ["placed", "placed-2"]

    # Learn tab: every view, and a discriminator trained for it: kept in Alice's own space.
    learn = LearnHandlers(ModelCache(), store, toy=())
    learn.cycle(pictures[0], pictures[1], "placed:AtoB", [], ALICE)
    learn.hidden(pictures[0], "placed:AtoB", "noise", 8, [], ALICE)
    _, text, _, _ = learn.train_discriminator(pictures[0], pictures[1], "placed:AtoB", [], ALICE,
                                              progress=no_progress)
    assert "this model's own discriminators, from its training (step 2)" in text
    assert list((store.visitor_space(visitor_id(ALICE)) / "discriminators").glob(f"*/{DISCRIMINATORS_NAME}"))

    # Translate tab: a translation and the task's card.
    translate = TranslateHandlers(ModelCache(), store)
    assert translate.translate(pictures[0], "placed:AtoB", [], BOB)[0].size == (48, 40)
    assert translate.card(translate_task("placed"), BOB)[0].startswith("**placed** · apple ↔ orange")

    # Nor can it be deleted or published by a visitor.
    for act in (lambda: handlers.delete("placed", [], ALICE),
                lambda: handlers.publish("placed", "alice/placed", "hf_x", False, ALICE)):
        with pytest.raises(Exception, match="placed here by the owner of this app"):
            act()
    assert fingerprint(placed) == before


def translate_task(source, direction="AtoB"):
    from demo.tasks import Task
    return Task(source, direction, f"{source}:{direction}")


def test_a_visitors_discriminators_are_theirs_and_count_in_the_disk_budget(tiny_model, pictures, monkeypatch):
    """For a model that is not their run, a visitor's discriminators go to their own space: counted and
    evicted with visitors' runs, refused before training when they cannot fit, unseen by others."""
    monkeypatch.setenv("CYCLEGAN_LEARN_D_SECONDS", "1")
    store = ModelStore()
    save_model(tiny_model, store.root / "fruit")  # the owner's, released without discriminators
    before = fingerprint(store.root / "fruit")
    learn = LearnHandlers(ModelCache(), store, toy=())
    monkeypatch.setenv("CYCLEGAN_RUNS_MAX_BYTES", "1000")
    with pytest.raises(Exception, match="keeping these discriminators needs about 21 MB"):
        learn.train_discriminator(pictures[0], pictures[1], "fruit:AtoB", [], ALICE, progress=no_progress)
    monkeypatch.delenv("CYCLEGAN_RUNS_MAX_BYTES")
    assert store.visitor_bytes() == 0
    _, text, _, _ = learn.train_discriminator(pictures[0], pictures[1], "fruit:AtoB", [], ALICE,
                                              progress=no_progress)
    assert "against its frozen generators" in text
    [(item, size)] = store.visitor_kept()
    assert item.parent == store.visitor_space(visitor_id(ALICE)) / "discriminators"
    assert item.name.startswith("store-fruit-")
    assert size > 20 * 2**20 and store.visitor_bytes() == size and fingerprint(store.root / "fruit") == before
    assert "against its frozen generators" in learn.discriminator(pictures[0], None, "fruit:AtoB", [], ALICE)[1]
    assert "has no discriminators" in learn.discriminator(pictures[0], None, "fruit:AtoB", [], BOB)[1]
    monkeypatch.setenv("CYCLEGAN_SHARED_RUNS", "1")  # shared runs share no one's discriminators
    assert "has no discriminators" in learn.discriminator(pictures[0], None, "fruit:AtoB", [], BOB)[1]
    # A run needs the room: Alice's discriminators are evicted for it, never the owner's model.
    assert store.make_room(1, size) == [item.relative_to(store.root).as_posix()]
    assert not item.exists() and fingerprint(store.root / "fruit") == before
    assert "has no discriminators" in learn.discriminator(pictures[0], None, "fruit:AtoB", [], ALICE)[1]


def secret_run(store, model, name="secretrun", token=ALICE):
    """A run of `token`'s in the store (apple ↔ orange: the shipped examples have apples)."""
    run = store.new_run(name)  # as runs made before names lived per visitor: the folder is the name
    save_model(model, run.path)
    run.write_record(TrainConfig(), run.path, run.path, owner=visitor_id(token))
    return run


def test_another_visitors_run_reads_like_a_missing_one_in_every_event(tiny_model, pictures, offline_sandbox):
    store = ModelStore()
    secret_run(store, tiny_model)

    def same(call):
        """What Bob reads for the secret run and for a missing one, the names aside."""
        answers = []
        for name in ("secretrun", "nosuchrun"):
            try:
                answers.append(repr(call(name)).replace(name, "NAME"))
            except Exception as e:  # noqa: BLE001 - the message is what is compared
                answers.append(f"{type(e).__name__}: {e}".replace(name, "NAME"))
        assert answers[0] == answers[1], answers
        return answers[0]

    translate = TranslateHandlers(ModelCache(), store)
    shown = same(lambda name: translate.choose(f"{name}:AtoB", [], BOB))
    assert "Hugging Face Hub" in shown and "apple" not in shown.lower()  # no card, no examples of its domain
    assert "apple" in repr(translate.choose("secretrun:AtoB", [], ALICE)).lower()  # Alice's own card and examples
    same(lambda name: translate.card(translate_task(name), BOB))
    same(lambda name: translate.task_examples(f"{name}:AtoB", [], BOB))
    same(lambda name: user_errors(translate.translate)(pictures[0], f"{name}:AtoB", [], BOB))
    same(lambda name: list(translate.translate_on_page(pictures[0], f"{name}:AtoB", [], BOB))[-1][2])
    same(lambda name: user_errors(translate.load_model)(name, [], BOB))

    handlers = train_handlers()
    for act in (lambda name: handlers.doctor(name, BOB), lambda name: handlers.download(name, BOB),
                lambda name: handlers.delete(name, [], BOB),
                lambda name: handlers.publish(name, "bob/x", "hf_x", False, BOB),
                lambda name: list(handlers.resume(name, 10, [], BOB, progress=no_progress)),
                lambda name: list(handlers.start([pictures[0]], [pictures[1]], "a", "b", name, 1, 64, "fp32", 10, 0.5,
                                                 "x", [], BOB, progress=no_progress))):
        assert any(words in same(lambda name: user_errors(act)(name))
                   for words in ("there is no run called 'NAME' of yours", "That is not a model this app offers"))

    learn = LearnHandlers(ModelCache(), store, toy=())
    for view in (lambda name: learn.cycle(pictures[0], None, f"{name}:AtoB", [], BOB),
                 lambda name: learn.discriminator(pictures[0], None, f"{name}:AtoB", [], BOB),
                 lambda name: learn.train_discriminator(pictures[0], pictures[1], f"{name}:AtoB", [], BOB,
                                                        progress=no_progress)):
        assert "not a model this app offers" in same(lambda name: user_errors(view)(name))
    assert sorted(p.name for p in store.root.iterdir()) == ["secretrun"]  # nothing was made or kept for Bob


def start(handlers, uploads, name, token, steps=1):
    return list(handlers.start(uploads["a"], uploads["b"], "red", "blue", "tiny", steps, 64, "fp32", 10, 0.5, name,
                               [], token, progress=no_progress))


def test_two_visitors_who_call_a_run_cats_both_get_cats_and_each_their_own(tiny_model, uploads, photo, tmp_path,
                                                                            monkeypatch):
    store = ModelStore()
    save_model(tiny_model, store.root / "tiny")  # the owner's, to fine-tune from
    handlers = train_handlers()
    for token, steps in ((ALICE, 1), (BOB, 2)):
        outputs = start(handlers, uploads, "cats", token, steps)
        assert statuses(outputs)[0].startswith("Training **red ↔ blue** in `cats`")
        assert outputs[-1][RUNS]["value"] == "cats" and outputs[-1][TASK]["value"] == "cats: red → blue"
        with zipfile.ZipFile(outputs[-1][DOWNLOAD]) as z:
            assert sorted(z.namelist()) == ["cats/config.json", "cats/model.safetensors"]
        with zipfile.ZipFile(handlers.download("cats", token)) as z:
            assert sorted(z.namelist()) == ["cats/config.json", "cats/model.safetensors"]
    alices, bobs = ({m.name: m for m in handlers.models(token)}["cats"] for token in (ALICE, BOB))
    assert (alices.owner, bobs.owner) == (visitor_id(ALICE), visitor_id(BOB)) and alices.path != bobs.path
    assert [m.name for m in handlers.models(ALICE)] == [m.name for m in handlers.models(BOB)] == ["cats", "tiny"]
    assert handlers.doctor("cats", ALICE).startswith("Too early to tell: 1 step(s)")
    assert handlers.doctor("cats", BOB).startswith("Too early to tell: 2 step(s)")
    assert load_model(bobs.path).config.provenance.startswith("fine-tuned from tiny ")
    assert statuses(list(handlers.start(uploads["a"], uploads["b"], "red", "blue", "cats", 1, 64, "fp32", 10, 0.5,
                                        "kittens", [], BOB, progress=no_progress)))[-1].startswith("Finished")
    kittens = {m.name: m for m in handlers.models(BOB)}["kittens"]  # from Bob's "cats", named as Bob named it
    assert bobs.path.name != "cats" and load_model(kittens.path).config.provenance.startswith("fine-tuned from cats ")

    # Each translates with their own "cats" (the model cache keeps them apart), in both tabs.
    photo.save(tmp_path / "p.png")
    translate = TranslateHandlers(ModelCache(), store)
    for token, model in ((ALICE, alices), (BOB, bobs)):
        expected = np.asarray(load_model(model.path).translate(photo, "AtoB"))
        for task in ("cats: red → blue", "cats:AtoB"):
            translated = translate.translate(str(tmp_path / "p.png"), task, [], token)[0]
            assert np.array_equal(np.asarray(translated), expected)
        assert translate.card(translate_task("cats"), token)[0].startswith("**cats** · red ↔ blue")
    learn = LearnHandlers(translate.cache, store, toy=())
    assert learn.choose("cats: red → blue", [], BOB).model is translate.cache.get(bobs.path.name)
    assert learn.choose("cats: red → blue", [], BOB).keep == bobs.path  # Bob's own run keeps its own D's

    # A second "cats" of Alice's is cats-2, whatever Bob's are called; Bob's Stop and Delete touch only his.
    assert statuses(start(handlers, uploads, "cats", ALICE))[0].startswith("Training **red ↔ blue** in `cats-2`")
    assert statuses(start(handlers, uploads, "tiny", BOB))[0].startswith("Training **red ↔ blue** in `tiny-2`")
    text, runs, _ = handlers.delete("cats", [], BOB)
    assert text.startswith("Deleted `cats`") and runs["choices"] == ["kittens", "tiny-2"]
    assert not bobs.path.exists() and alices.path.exists()
    assert [m.name for m in handlers.models(ALICE)] == ["cats", "cats-2", "tiny"]

    # Shared runs are everyone's: names are unique among all of them.
    monkeypatch.setenv("CYCLEGAN_SHARED_RUNS", "1")
    assert statuses(start(handlers, uploads, "cats", "carol-token"))[0].startswith(
        "Training **red ↔ blue** in `cats-3`")


def test_stop_names_the_run_as_its_visitor_does(tmp_path):
    slot = TrainingSlot()
    with slot.hold(tmp_path / "cats+0123abcd", "0123abcd", "cats"):
        assert slot.request_stop("0123abcd") == "Stopping cats after the current step…"
    assert slot.request_stop("0123abcd") == "No training run of yours is active."


def test_gradio_errors_read_the_same_too(tiny_model, offline_sandbox):
    """What the page shows (gr.Error) for another visitor's run and a missing one: one sentence."""
    store = ModelStore()
    secret_run(store, tiny_model)
    handlers = train_handlers()
    messages = set()
    for name in ("secretrun", "nosuchrun"):
        with pytest.raises(gr.Error) as error:
            user_errors(handlers.doctor)(name, BOB)
        messages.add(str(error.value.message).replace(name, "NAME"))
    assert messages == {"there is no run called 'NAME' of yours"}
