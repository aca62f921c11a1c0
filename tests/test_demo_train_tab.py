"""demo/train_tab.py and demo/training.py: the Train tab's handlers, called directly (no server)."""

import pickle
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from cyclegan_core import CycleGANError, ModelStore, TrainConfig, load_model, save_model
from cyclegan_core.engine.images import image_to_tensor
from cyclegan_core.training.loop import Finished, Preview, Started, StepDone, preview
from cyclegan_core.training.trainer import CycleGANTrainer
from demo.model_cache import ModelCache
from demo.train_tab import MIN_PLOT_STEPS, OUTPUTS, SMALL_PRESET, TrainHandlers, showing_errors
from demo.training import Speedometer, StopFlag, TrainingSlot, eta_text, loss_rows
from demo.visitors import visitor_id

STATUS, PLOT, GALLERY, DOWNLOAD, DOCTOR, TASK, RUNS, VISITOR, STOP, ERROR, CYCLE_PLOT = (
    OUTPUTS.index(name) for name in OUTPUTS)
ALICE, BOB = "alice-token", "bob-token"


def no_progress(*args, **kwargs):
    pass


@pytest.fixture
def handlers(offline_sandbox):
    return TrainHandlers(ModelCache(), TrainingSlot(), reach=FixedReach(None))  # the zoo's sources "answer"


class FixedReach:
    """Stands in for `availability.Reachability`: the zoo's sources answer (None), or not (a reason)."""

    def __init__(self, reason):
        self.reason = reason

    def why_not(self):
        return self.reason


@pytest.fixture
def tiny_in_store(tiny_model, offline_sandbox):
    """A tiny model placed in the store (as the Space's owner would), to fine-tune from by name."""
    save_model(tiny_model, ModelStore().root / "tiny")
    return "tiny"


def start(handlers, uploads, init, steps=3, name="fruity", token=ALICE):
    return list(handlers.start(uploads["a"], uploads["b"], "red", "blue", init, steps, 64, "fp32", 10, 0.5, name,
                               [], token, progress=no_progress))


def statuses(outputs):
    return [o[STATUS] for o in outputs if isinstance(o[STATUS], str)]


def test_start_streams_a_run_into_the_store_and_offers_it(handlers, uploads, tiny_in_store, photo):
    outputs = start(handlers, uploads, tiny_in_store)
    texts = statuses(outputs)
    assert texts[0].startswith("Training **red ↔ blue** in `fruity`: 3 + 2 images")
    assert texts[-1].startswith("Finished at step **3 / 3**")
    final = outputs[-1]
    doctor = [o[DOCTOR] for o in outputs if isinstance(o[DOCTOR], str)]
    assert doctor[0] == "Too early to tell: 0 step(s) so far; the checks start after 50 steps."
    assert doctor[-1] == final[DOCTOR] == "Too early to tell: 3 step(s) so far; the checks start after 50 steps."
    adversarial, cycles = final[PLOT]["value"], final[CYCLE_PLOT]["value"]
    assert set(adversarial["term"]) == {"G_AB", "G_BA", "D_A", "D_B"}  # four lines a plot: its legend fits a phone
    assert set(cycles["term"]) == {"cycle_A", "cycle_B", "idt_A", "idt_B"}
    for plot in (final[PLOT], final[CYCLE_PLOT]):  # whole steps on the x axis, however few
        assert str(plot["value"]["step"].dtype) == "int64" and plot["x_lim"] == [0, MIN_PLOT_STEPS]
    from demo.train_tab import loss_plots
    from cyclegan_core.nn.losses import LOSS_NAMES
    early = [{"step": step, **dict.fromkeys(LOSS_NAMES, 0.5)} for step in (1, 2)]
    assert loss_plots(early, 30)["plot"]["x_lim"] == [0, 30]  # a 30-step run: an axis of 30 steps from step 1
    # Stop shows from the start of the run to its end; the error box of an earlier failure goes.
    assert outputs[0][STOP] == {"__type__": "update", "visible": True} and final[STOP]["visible"] is False
    assert outputs[0][ERROR] == {"__type__": "update", "value": "", "visible": False}
    galleries = [o[GALLERY] for o in outputs if isinstance(o[GALLERY], list)]
    assert [caption for _, caption in galleries[0]] == ["real red", "→ blue (G)", "→ back to red (F)", "real blue",
                                                        "→ red (F)", "→ back to blue (G)"]
    with zipfile.ZipFile(final[DOWNLOAD]) as z:
        assert sorted(z.namelist()) == ["fruity/config.json", "fruity/model.safetensors"]
    assert final[TASK]["value"] == "fruity: red → blue" and ("fruity: red → blue",) * 2 in final[TASK]["choices"]
    assert final[RUNS] == {"__type__": "update", "choices": ["fruity"], "value": "fruity"}
    assert outputs[0][VISITOR] == ALICE  # the session keeps its token
    stored = {m.name: m for m in handlers.store.models()}["fruity"]
    assert (stored.name, stored.resumable, stored.config.ngf) == ("fruity", True, 8)  # the init's architecture
    assert stored.config.provenance.startswith("fine-tuned from tiny ")  # by name, not by server path
    assert load_model(stored.path).translate(photo, "AtoB").size == photo.size
    assert handlers.resumable_runs(ALICE) == ["fruity"]
    assert ("fruity (your model)", "fruity") in handlers.init_choices(ALICE)


def test_start_refuses_server_paths_as_init_before_making_anything(handlers, uploads, tmp_path):
    for init in ("/etc", str(tmp_path), "../../x"):
        with pytest.raises(CycleGANError, match="is not a model this app offers"):
            start(handlers, uploads, init)
    assert not handlers.store.root.exists() or list(handlers.store.root.iterdir()) == []


def test_resume_continues_from_the_saved_step(handlers, uploads, tiny_in_store):
    start(handlers, uploads, tiny_in_store, steps=2)
    with pytest.raises(CycleGANError, match="has done 2 of its 2 steps"):
        list(handlers.resume("fruity", 2, [], ALICE, progress=no_progress))
    texts = statuses(list(handlers.resume("fruity", 4, [], ALICE, progress=no_progress)))
    assert texts[0].startswith("Resuming **red ↔ blue** in `fruity`") and "step 2 of 4" in texts[0]
    assert texts[-1].startswith("Finished at step **4 / 4**")
    assert [r["step"] for r in handlers.store.run("fruity").read_log()] == [1, 2, 3, 4]
    with pytest.raises(CycleGANError, match="choose one of your runs"):
        list(handlers.resume(None, 4, [], ALICE, progress=no_progress))
    with pytest.raises(CycleGANError, match="there is no run called '../fruity' of yours"):
        list(handlers.resume("../fruity", 4, [], ALICE, progress=no_progress))


def test_stop_ends_the_run_after_the_current_step_and_keeps_it(handlers, uploads, tiny_in_store):
    stream = handlers.start(uploads["a"], uploads["b"], "red", "blue", tiny_in_store, 1000, 64, "fp32", 10, 0.5,
                            "long", [], ALICE, progress=no_progress)
    outputs = []
    for output in stream:
        outputs.append(output)
        if isinstance(output[STATUS], str) and output[STATUS].startswith("Step **"):
            assert handlers.stop(BOB) == "No training run of yours is active."  # not Bob's to stop
            assert handlers.stop(ALICE) == "Stopping long after the current step…"
    assert statuses(outputs)[-1].startswith("Stopped at step **")
    assert handlers.store.run("long").is_resumable()


def test_a_failed_start_leaves_nothing_behind(handlers, uploads, tmp_path):
    junk = tmp_path / "junk.txt"
    junk.write_text("not a picture")
    with pytest.raises(CycleGANError, match="domain B: 0 usable image"):
        list(handlers.start(uploads["a"], [str(junk)], "red", "blue", "", 10, 64, "fp32", 10, 0.5, "y", [],
                            progress=no_progress))
    assert handlers.store.models() == [] and not (handlers.store.root / "y").exists()
    with pytest.raises(CycleGANError, match="domain blue has no images yet"):
        list(handlers.start(uploads["a"], [], "red", "blue", "", 10, 64, "fp32", 10, 0.5, "z", [],
                            progress=no_progress))


def test_a_busy_slot_refuses_a_second_run_without_a_trace(handlers, uploads, tiny_in_store):
    with handlers.slot.hold(handlers.store.root / "first"):
        with pytest.raises(CycleGANError, match=r"a training run is already using"):
            start(handlers, uploads, tiny_in_store, name="second")
    assert not (handlers.store.root / "second").exists()


def test_init_choices_and_suggestions(handlers, tiny_model, offline_sandbox):
    save_model(tiny_model, ModelStore().root / "mine")
    choices = handlers.init_choices(ALICE)
    assert choices[0] == (SMALL_PRESET, "")
    assert ("horse2zebra (official, horse ↔ zebra) · downloads ≈90 MB on first use", "horse2zebra") in choices
    assert choices[-1] == ("mine (your model)", "mine")
    assert handlers.suggest_init("cat", "dog", "")["value"] == "horse2zebra"
    assert handlers.suggest_init("day", "night", "horse2zebra")["value"] == "summer2winter"
    assert handlers.suggest_init("spoon", "fork", "summer2winter")["value"] == ""
    kept = handlers.suggest_init("cat", "dog", "mine")
    assert "value" not in kept and kept["choices"] == choices  # the user's pick is kept


def test_offline_the_zoo_is_marked_unavailable_to_start_from_and_not_suggested(tiny_model, offline_sandbox):
    save_model(tiny_model, ModelStore().root / "horse2zebra")  # fetched before: ready offline
    handlers = TrainHandlers(ModelCache(), TrainingSlot(), reach=FixedReach("no network"))
    choices = dict((value, text) for text, value in handlers.init_choices(ALICE))
    assert choices["horse2zebra"] == "horse2zebra (official, horse ↔ zebra)"
    assert "summer2winter" not in choices  # cannot be had now: not offered
    assert choices["vintage"] == "modern photo → vintage photo (built in, one-way: G from it, F new)"
    assert "style_monet" not in choices
    assert handlers.suggest_init("day", "night", "")["value"] == ""  # summer2winter cannot be had: from scratch
    assert handlers.suggest_init("cat", "dog", "")["value"] == "horse2zebra"


def test_offline_with_an_empty_store_a_run_fine_tunes_the_built_in_model_at_the_chosen_learning_rate(uploads,
                                                                                                     offline_sandbox):
    handlers = TrainHandlers(ModelCache(), TrainingSlot(), reach=FixedReach("no network"))
    assert [value for _, value in handlers.init_choices(ALICE)][:2] == ["", "vintage"]
    outputs = list(handlers.start(uploads["a"], uploads["b"], "new", "old", "vintage", 1, 64, "fp32", 10, 0.5,
                                  "aged", [], ALICE, progress=no_progress, learning_rate=0.0001))
    assert statuses(outputs)[-1].startswith("Finished at step **1 / 1**")
    stored = handlers.own_model("aged", ALICE)
    from cyclegan_core import RunFolder
    config = RunFolder(stored.path).read_record().config
    assert config.lr == 0.0001 and config.init is not None and not load_model(stored.path).one_way
    with pytest.raises(Exception, match="learning rate must be above 0 and at most"):
        list(handlers.start(uploads["a"], uploads["b"], "new", "old", "", 1, 64, "fp32", 10, 0.5, "x", [], ALICE,
                            progress=no_progress, learning_rate=5))


def test_resume_with_nothing_chosen_is_refused_before_the_queue(handlers):
    shown = handlers.resume_problem(None, ALICE)
    assert shown["visible"] and "choose one of your runs first" in shown["value"]
    assert handlers.resume_problem("nobody's", ALICE)["visible"]
    import gradio as gr
    with pytest.raises(gr.Error):
        handlers.resume_check(None, ALICE)


def test_describe_and_add_folder(handlers, uploads):
    assert handlers.describe(uploads["a"], " red ").startswith("**red**: 3 usable image(s)")
    assert handlers.describe(None, "") == "**?**: no files yet."
    assert handlers.add_folder(["x"], ["a", "b"]) == ["a", "b", "x"] and handlers.add_folder(None, None) == []


def test_loss_rows_thin_long_runs_and_keep_the_last_step():
    records = [{"step": s, "G_AB": s / 10, "D_A": 1.0, "lr": 2e-4} for s in range(1, 1001)]
    rows = loss_rows(records, ("G_AB", "D_A", "idt_A"), max_points=100)
    steps = sorted(set(rows["step"]))
    assert len(steps) <= 101 and steps[0] == 1 and steps[-1] == 1000
    assert set(rows["term"]) == {"G_AB", "D_A"} and len(rows["loss"]) == 2 * len(steps)


def test_eta_text():
    assert eta_text(1.5, 100) == "2:30"
    assert eta_text(2.0, 3600) == "2:00:00"


def test_one_run_at_a_time(tmp_path):
    slot = TrainingSlot()
    with slot.hold(tmp_path / "first", owner="a"):
        with pytest.raises(CycleGANError, match=r"a training run is already using"):
            with slot.hold(tmp_path / "second"):
                pass
        assert slot.request_stop("b") == "No training run of yours is active."
        assert slot.request_stop("b", shared=True) == "Stopping first after the current step…"
        assert slot.request_stop("a") == "Stopping first after the current step…"
    assert slot.request_stop("a") == "No training run of yours is active."
    with slot.hold(tmp_path / "third") as stop:
        assert isinstance(stop, StopFlag) and not stop.is_set()
        copy = pickle.loads(pickle.dumps(stop))  # as a forked GPU call holds it (zerogpu.train_in_loans)
        assert not copy.is_set()
        assert slot.request_stop() == "Stopping third after the current step…"
        assert stop.is_set() and copy.is_set()  # the copy sees it through the file
    assert not stop.path.exists()  # the run's flag goes with the run


def test_each_visitors_runs_are_their_own(handlers, uploads, tiny_in_store, monkeypatch, photo):
    start(handlers, uploads, tiny_in_store, steps=2, name="alices", token=ALICE)
    # Bob sees the owner's model, not Alice's run; he cannot resume, download or delete it.
    assert handlers.resumable_runs(BOB) == [] and [c[1] for c in handlers.init_choices(BOB)][-1] == "tiny"
    for act in (lambda: list(handlers.resume("alices", 10, [], BOB, progress=no_progress)),
                lambda: handlers.download("alices", BOB), lambda: handlers.delete("alices", [], BOB)):
        with pytest.raises(CycleGANError, match="there is no run called 'alices' of yours"):
            act()
    with pytest.raises(CycleGANError, match="is not a model this app offers"):  # nor fine-tune from it
        start(handlers, uploads, "alices", name="bobs", token=BOB)
    # Alice downloads and deletes hers; the owner's model cannot be deleted by a visitor.
    with zipfile.ZipFile(handlers.download("alices", ALICE)) as z:
        assert sorted(z.namelist()) == ["alices/config.json", "alices/model.safetensors"]
    with pytest.raises(CycleGANError, match="placed here by the owner of this app"):
        handlers.delete("tiny", [], ALICE)
    text, runs, _ = handlers.delete("alices", [], ALICE)
    assert text.startswith("Deleted `alices`") and runs["choices"] == []
    assert not (handlers.store.root / "alices").exists() and (handlers.store.root / "tiny").exists()


def test_shared_runs_are_everyones(handlers, uploads, tiny_in_store, monkeypatch):
    start(handlers, uploads, tiny_in_store, steps=2, name="alices", token=ALICE)
    monkeypatch.setenv("CYCLEGAN_SHARED_RUNS", "1")
    assert handlers.resumable_runs(BOB) == ["alices"]
    assert statuses(list(handlers.resume("alices", 3, [], BOB, progress=no_progress)))[-1].startswith("Finished")


def test_disk_budget_evicts_old_finished_runs_and_refuses_what_cannot_fit(handlers, uploads, tiny_in_store,
                                                                           monkeypatch):
    from cyclegan_core.training.store import folder_bytes
    start(handlers, uploads, tiny_in_store, steps=2, name="alices", token=ALICE)
    one_run = folder_bytes(handlers.store.root / "alices")
    monkeypatch.setenv("CYCLEGAN_RUNS_MAX_BYTES", str(one_run * 1.5).split(".")[0])
    start(handlers, uploads, tiny_in_store, steps=2, name="bobs", token=BOB)  # room is made: Alice's finished run goes
    assert [m.name for m in handlers.store.models()] == ["bobs", "tiny"]
    monkeypatch.setenv("CYCLEGAN_RUNS_MAX_BYTES", "1000")
    with pytest.raises(CycleGANError, match="may take 0 MB together and a new run needs about"):
        start(handlers, uploads, tiny_in_store, name="carols", token="carol")
    assert [m.name for m in handlers.store.models()] == ["bobs", "tiny"]  # nothing was evicted for nothing


def test_uploads_over_the_cap_are_refused_before_anything_is_copied(handlers, uploads, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_APP_MAX_UPLOAD_BYTES", "1000")
    with pytest.raises(CycleGANError, match=r"your files weigh 0 MB together; a run here takes at most 0 MB"):
        start(handlers, uploads, "", name="big")
    assert not (handlers.store.root / "big").exists()


def test_images_per_domain_are_capped(handlers, uploads, tiny_in_store, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_APP_MAX_IMAGES", "2")
    texts = statuses(start(handlers, uploads, tiny_in_store, steps=1, name="capped"))
    assert "2 + 2 images (skipped 1 unusable file(s))" in texts[0]


def test_download_zips_do_not_pile_up(tmp_path):
    import os
    from demo.training import KEEP_DOWNLOADS_SECONDS, download_path
    first = download_path("a", tmp_path)
    first.write_bytes(b"zip")
    old = first.parent
    os.utime(old, (time.time() - KEEP_DOWNLOADS_SECONDS - 5,) * 2)
    second = download_path("b", tmp_path)
    assert second.name == "b.zip" and second.parent.is_dir() and not old.exists()


# --- "Is it working?" ---

def balanced_log(steps: int, collapse_from: int | None = None) -> list[dict]:
    """LSGAN losses of a balanced run; from `collapse_from` on, D_B wins (its loss → 0, G_AB's → 1)."""
    rng = np.random.default_rng(0)
    log = []
    for step in range(1, steps + 1):
        record = {"step": step, "G_AB": 0.35, "G_BA": 0.35, "cycle_A": 1.0, "cycle_B": 1.0, "idt_A": 0.3,
                  "idt_B": 0.3, "D_A": 0.2, "D_B": 0.2}
        record = {k: v if k == "step" else v * rng.uniform(0.7, 1.3) for k, v in record.items()}
        if collapse_from is not None and step >= collapse_from:
            record.update(D_B=0.002, G_AB=0.97)
        log.append({**record, "lr": 2e-4})
    return log


def stored_run(handlers, model, name, log, token=ALICE):
    """A run of `token`'s in the store whose saved log is `log` (the weights are `model`'s)."""
    config = TrainConfig(steps=max(1, len(log)), ngf=8, n_blocks=2, precision="fp32")
    run = handlers.store.new_run(name)
    run.write_record(config, run.path, run.path, owner=visitor_id(token))
    run.save(CycleGANTrainer(model, config), log)
    return run


def test_doctor_reads_a_stored_runs_log_and_previews(handlers, tiny_model):
    stored_run(handlers, tiny_model, "collapsed", balanced_log(120, collapse_from=60))
    text = handlers.doctor("collapsed", ALICE)
    assert text.startswith("**1 thing(s) to look at** after 120 steps:")
    assert "The discriminator D_B is winning" in text and "\n- Lower the learning rate" in text
    balanced = stored_run(handlers, tiny_model, "balanced", balanced_log(120))
    assert handlers.doctor("balanced", ALICE) == "No problems found so far (120 steps checked)."
    for step in (80, 100, 120):  # the preview grids train() writes, of a G that inverts
        images = {k: image_to_tensor(v) for k, v in inverted_preview(step).images.items()}
        preview(Inverter(step, images), balanced, images["real_A"], images["real_B"])
    assert "G_AB inverts the colours" in handlers.doctor("balanced", ALICE)
    stored_run(handlers, tiny_model, "young", balanced_log(10, collapse_from=1))
    assert handlers.doctor("young", ALICE).startswith("Too early to tell: 10 step(s) so far")
    assert handlers.doctor(None, ALICE) == ""
    with pytest.raises(CycleGANError, match="there is no run called 'collapsed' of yours"):
        handlers.doctor("collapsed", BOB)


def inverted_preview(step: int) -> Preview:
    """Both cycles of a generator G that turns its input into a negative."""
    rng = np.random.default_rng(step)
    real_a = np.clip(np.linspace(0, 1, 64)[None, :, None] + rng.normal(0, 0.05, (64, 64, 3)), 0, 1)
    real_b = np.clip(np.linspace(1, 0, 64)[:, None, None] + rng.normal(0, 0.05, (64, 64, 3)), 0, 1)
    pictures = {"real_A": real_a, "fake_B": 1 - real_a, "rec_A": real_a, "real_B": real_b,
                "fake_A": real_b * 0.9, "rec_B": real_b}
    return Preview(step, {k: Image.fromarray((v * 255).astype(np.uint8)) for k, v in pictures.items()}, None)


class Inverter:
    """Stands in for a trainer at `steps_done` whose cycles are `images` (for `train.preview`)."""

    def __init__(self, steps_done, images):
        self.steps_done, self.images = steps_done, images

    def cycles(self, real_A, real_B):
        return self.images


def test_the_stream_shows_what_the_doctor_finds_as_the_run_goes(handlers, tiny_model):
    run = stored_run(handlers, tiny_model, "streamed", [])
    log = balanced_log(80, collapse_from=30)
    events = [Started(run.path, 0, 80, "red", "blue", 1, 1, (), (), "fp32", False)]
    for record in log:
        events.append(StepDone(record["step"], 80, {k: v for k, v in record.items() if k not in ("step", "lr")},
                               2e-4, 0.1))
        if record["step"] % 20 == 0:
            events.append(inverted_preview(record["step"]))
    events.append(Finished(80, 80, run.path, False))
    outputs = list(handlers.stream((e for e in events), run, [], ALICE, no_progress))  # a generator, as train()
    texts = [o[DOCTOR] for o in outputs if isinstance(o[DOCTOR], str)]  # Started, 4 previews, Finished
    assert texts[0].startswith("Too early to tell: 0 step(s)")  # Started
    assert texts[1].startswith("Too early to tell: 20 step(s)")  # the first preview, at step 20
    assert texts[2].startswith("Too early to tell: 40 step(s)")
    assert texts[3].startswith("**2 thing(s) to look at** after 60 steps")  # two previews agree, D_B has won
    assert "G_AB inverts the colours" in texts[3] and "The discriminator D_B is winning" in texts[3]
    assert len(texts) == 6 and texts[-1].startswith("**2 thing(s) to look at** after 80 steps")
    assert outputs[-1][STATUS].startswith("Finished at step **80 / 80**") and outputs[-1][DOCTOR] == texts[-1]


# --- the time left, Stop, errors that stay, the plot's axis ---

class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_time_left_after_resume_comes_from_this_sessions_steps_only(tiny_model, offline_sandbox):
    """Resumed at step 200 of 300: the first step takes 10 s (restoring, warming up) and the first
    preview 3 s more; then each step takes 1.2 s. What train() reports (an average that starts from
    nothing after a resume: 0.2 s/step) must not be what the page shows."""
    clock = FakeClock()
    handlers = TrainHandlers(ModelCache(), TrainingSlot(), clock=clock)
    run = stored_run(handlers, tiny_model, "resumed", balanced_log(200))
    losses = {k: v for k, v in balanced_log(1)[0].items() if k not in ("step", "lr")}

    def events():
        yield Started(run.path, 200, 300, "red", "blue", 1, 1, (), (), "fp32", True)
        for step in range(201, 221):
            clock.now += 10.0 if step == 201 else 1.2
            yield StepDone(step, 300, losses, 2e-4, 0.2)  # train()'s own figure, wrong after a resume
            if step == 201:
                clock.now += 3.0  # the first preview, made at once
                yield inverted_preview(step)
    texts = [t for t in statuses(list(handlers.stream(events(), run, [], ALICE, no_progress)))
             if t.startswith("Step **")]
    assert texts[0].startswith("Step **201 / 300** · measuring the speed…")
    timed = [t for t in texts if "s/step" in t]
    assert timed and all("1.20 s/step" in t for t in timed), texts
    assert "0.20 s/step" not in " ".join(texts)
    assert "Step **220 / 300** · 1.20 s/step · about 1:36 left" in texts[-1]  # 80 steps × 1.2 s


def test_the_speedometer_waits_for_this_sessions_steps_and_follows_the_latest():
    clock = FakeClock()
    speed = Speedometer(clock, window=10)
    clock.now += 30  # start-up
    assert speed.step_done(501) is None
    clock.now += 5  # the first preview
    assert speed.step_done(502) is None
    clock.now += 2
    assert speed.step_done(503) == pytest.approx(2.0)
    for step in range(504, 530):
        clock.now += 0.5
        speed.step_done(step)
    assert speed.seconds_per_step() == pytest.approx(0.5)  # the latest 10 steps, not the slower start


def test_stop_shows_only_for_the_visitor_whose_run_is_going(handlers, tmp_path):
    _, _, stop = handlers.refresh(ALICE)
    assert stop["visible"] is False
    with handlers.slot.hold(tmp_path / "run", visitor_id(ALICE)):
        assert handlers.refresh(ALICE)[2]["visible"] is True  # after a reload, say
        assert handlers.refresh(BOB)[2]["visible"] is False
    assert handlers.refresh(ALICE)[2]["visible"] is False


def test_a_failed_run_leaves_its_message_on_the_page():
    from demo.errors import user_errors

    def failing(*args, **kwargs):
        yield ("status",)
        raise CycleGANError("domain B: 0 usable image(s)\nskipped: junk.txt (not an image)")

    page = showing_errors(user_errors(failing), lambda m: ("error", m), cleared=("clear",))
    assert list(page()) == [("clear",), ("status",),  # an earlier error is cleared first
                            ("error", "domain B: 0 usable image(s)\nskipped: junk.txt (not an image)")]  # lines kept
    plain = showing_errors(user_errors(lambda: "done"), lambda m: m, cleared="")
    assert list(plain()) == ["", "done"]


# --- publishing a run to the Hub ---

TOKEN = "hf_secretSECRETsecret123"


@pytest.fixture
def pushes(monkeypatch):
    """push_model replaced: the calls it got, and a PushResult-like answer."""
    import types

    from cyclegan_core import publish

    calls = []

    def fake_push(folder, repo_id, *, token=None, private=False, revision=None, path_in_repo=None, endpoint=None,
                  dry_run=False):
        calls.append({"folder": folder, "repo_id": repo_id, "token": token, "private": private})
        if repo_id == "alice/broken":
            raise CycleGANError(f"the Hub said 401 for token {token}")
        if repo_id == "alice/crash":
            raise RuntimeError(f"connection reset while sending Authorization: Bearer {token}")
        return types.SimpleNamespace(repo_id=repo_id, url=f"https://huggingface.co/{repo_id}", prepared=folder,
                                     files=("config.json", "model.safetensors", "README.md"),
                                     commit_url=f"https://huggingface.co/{repo_id}/commit/abc")

    monkeypatch.setattr(publish, "push_model", fake_push)
    return calls


def test_publish_pushes_the_visitors_own_run_with_the_token_for_this_call_only(handlers, tiny_model, pushes):
    from pathlib import Path

    run = stored_run(handlers, tiny_model, "alices", balanced_log(5))
    text = handlers.publish("alices", " alice/cats2dogs ", f" {TOKEN} ", True, ALICE)
    assert pushes == [{"folder": run.path, "repo_id": "alice/cats2dogs", "token": TOKEN, "private": True}]
    assert Path(pushes[0]["folder"]) == handlers.store.root / "alices"
    assert "https://huggingface.co/alice/cats2dogs" in text and 'cyclegan_core.load("alice/cats2dogs")' in text
    assert "Hub box" in text and "(private)" in text and TOKEN not in text
    handlers.publish("alices", "alice/public", TOKEN, False, ALICE)
    assert pushes[-1]["token"] == TOKEN and pushes[-1]["private"] is False
    with pytest.raises(CycleGANError, match="paste a Hugging Face access token"):  # never the server's own login
        handlers.publish("alices", "alice/public", " ", False, ALICE)
    assert len(pushes) == 2


def test_publish_refuses_what_is_not_the_visitors_own_and_never_shows_the_token(handlers, tiny_model, pushes,
                                                                                tiny_in_store):
    stored_run(handlers, tiny_model, "alices", balanced_log(5))
    with pytest.raises(CycleGANError, match="there is no run called 'alices' of yours"):
        handlers.publish("alices", "bob/stolen", TOKEN, False, BOB)
    with pytest.raises(CycleGANError, match="placed here by the owner of this app"):
        handlers.publish("tiny", "alice/tiny", TOKEN, False, ALICE)
    with pytest.raises(CycleGANError, match="choose one of your runs"):
        handlers.publish(None, "alice/x", TOKEN, False, ALICE)
    with pytest.raises(CycleGANError, match="as owner/name"):
        handlers.publish("alices", " ", TOKEN, False, ALICE)
    assert pushes == []
    for repo in ("alice/broken", "alice/crash"):  # the token is not in the message, nor in a chained cause
        with pytest.raises(CycleGANError) as failed:
            handlers.publish("alices", repo, TOKEN, False, ALICE)
        assert TOKEN not in str(failed.value) and "***" in str(failed.value) and failed.value.__cause__ is None
        assert failed.value.__suppress_context__


def test_the_publish_events_return_no_token_and_keep_none_in_state(tiny_model, offline_sandbox, pushes):
    """Built into the app: what Publish sends back (to the page, or to API callers as publish_run)
    never holds the token, no gr.State is among its outputs, and the token box is emptied after the
    page's call, whatever its outcome. The page shows a failure; API callers get it raised."""
    import gradio as gr

    from demo import build_demo

    demo = build_demo()
    token_box = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "publish-token")
    button = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "train-publish")
    assert token_box.type == "password"
    block_id = {id(block): key for key, block in demo.blocks.items()}  # the config names blocks by these ids
    config = demo.get_config_file()["dependencies"]
    public = {d["api_name"] for d in config if d.get("api_name") and d.get("api_visibility") != "private"}
    assert {"train", "resume", "stop", "download_run", "delete_run", "doctor", "publish_run"} <= public
    assert not any(name.startswith(("train_", "resume_", "publish_run_")) for name in public)  # the page's are private
    api = [d for d in config if d.get("api_name") == "publish_run"]
    page = [d for d in config if [block_id[id(button)], "click"] in [list(t) for t in d["targets"]]]
    assert len(api) == 1 and len(page) == 1 and page[0]["api_visibility"] == "private"
    for dep in api + page:
        assert [type(demo.blocks[i]) for i in dep["outputs"]] == [gr.Markdown]  # no State, no token box
    clears = [d for d in config if d.get("trigger_after") == page[0]["id"] and block_id[id(token_box)] in d["outputs"]]
    assert clears and clears[0]["trigger_only_on_success"] is False  # emptied after every call

    run = ModelStore().new_run("alices")
    config_ = TrainConfig(steps=1, ngf=8, n_blocks=2, precision="fp32")
    run.write_record(config_, run.path, run.path, owner=visitor_id(ALICE))
    run.save(CycleGANTrainer(tiny_model, config_), [])
    on_page, for_api = demo.fns[page[0]["id"]].fn, demo.fns[api[0]["id"]].fn
    shown = list(on_page("alices", "alice/cats", TOKEN, False, ALICE))
    assert pushes[-1]["token"] == TOKEN and TOKEN not in repr(shown)
    assert shown[0] == "" and shown[-1].startswith("Published `alices` to [alice/cats]")
    assert for_api("alices", "alice/cats", TOKEN, False, ALICE) == shown[-1]
    shown = list(on_page("alices", "alice/broken", TOKEN, False, ALICE))
    assert shown[-1].startswith("**Could not publish:**\n") and TOKEN not in repr(shown)
    with pytest.raises(gr.Error) as failed:
        for_api("alices", "alice/broken", TOKEN, False, ALICE)
    assert TOKEN not in str(failed.value)
    demo.close()
