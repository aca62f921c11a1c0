import json
import math
import threading

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from cyclegan_core import CycleGANError, RunError, RunFolder, load_model, save_model
from cyclegan_core.training.loop import CheckpointSaved, Finished, Preview, Started, StepDone, train
from cyclegan_core.training.config import TrainConfig

from conftest import BLUE, RED, TINY, noise_pictures


@pytest.fixture
def domains(tmp_path):
    """Two tiny unpaired domains: reddish noise photos and bluish ones, different counts."""
    noise_pictures(tmp_path, {"a": 3, "b": 2}, size=(48, 40), tints={"a": RED, "b": BLUE}, subfolders=True)
    return tmp_path / "a", tmp_path / "b"


def run_all(config, domains, out, **kwargs):
    return list(train(config, *domains, out, **kwargs))


def test_events_arrive_in_order_with_finite_changing_losses(domains, tmp_path):
    config = TrainConfig(steps=6, preview_every=2, checkpoint_every=4, **TINY)
    events = run_all(config, domains, tmp_path / "run")
    kinds = [type(e).__name__ + (f"@{e.step}" if not isinstance(e, Started) else "") for e in events]
    assert kinds == ["Started", "StepDone@1", "Preview@1", "StepDone@2", "Preview@2", "StepDone@3", "StepDone@4", "Preview@4",
                     "CheckpointSaved@4", "StepDone@5", "StepDone@6", "Preview@6", "CheckpointSaved@6", "Finished@6"]
    started = events[0]
    assert (started.images_a, started.images_b, started.total_steps, started.step) == (3, 2, 6, 0)
    steps = [e for e in events if isinstance(e, StepDone)]
    for name in ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"):
        values = [s.losses[name] for s in steps]
        assert all(math.isfinite(v) for v in values), name
        assert len(set(values)) > 1, f"{name} never changed"
    assert not events[-1].stopped
    previews = [e for e in events if isinstance(e, Preview)]
    assert set(previews[0].images) == {"real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"}
    assert previews[0].images["fake_B"].size == (32, 32)
    assert Image.open(previews[-1].path).size == (3 * 34 + 2, 2 * 34 + 2)  # 3×2 grid, 2 px padding


def test_run_folder_is_a_model_folder_with_state_log_and_previews(domains, tmp_path):
    run = tmp_path / "run"
    run_all(TrainConfig(steps=3, preview_every=3, domain_a="red", domain_b="blue", **TINY), domains, run)
    assert {p.name for p in run.iterdir()} == {"config.json", "model.safetensors", "training_state.safetensors",
                                               "train.json", "log.json", "previews"}
    model = load_model(run)
    assert (model.config.ngf, model.config.n_blocks, model.config.domain_a, model.config.domain_b) == (8, 1, "red", "blue")
    assert model.translate(Image.new("RGB", (50, 30)), "AtoB").size == (50, 30)
    log = json.loads((run / "log.json").read_text())["records"]
    assert [r["step"] for r in log] == [1, 2, 3] and set(log[0]) >= {"G_AB", "D_B", "lr"}
    record = RunFolder(run).read_record()
    assert record.config.steps == 3 and record.data_a == str(domains[0].resolve())


def test_close_mid_run_leaves_a_loadable_model_and_resumable_state(domains, tmp_path):
    run = tmp_path / "run"
    stream = train(TrainConfig(steps=10, checkpoint_every=100, **TINY), *domains, run)
    for event in stream:
        if isinstance(event, StepDone) and event.step == 3:
            break
    stream.close()  # what the UI's Stop and an abandoned generator do
    model, state = load_model(run), load_file(run / "training_state.safetensors")
    for name, tensor in model.state_dict().items():  # the model folder and the state are of one step
        assert torch.equal(tensor, state[name]), name
    assert RunFolder(run).steps_done() == 3
    with open(run / "log.json") as f:
        assert [r["step"] for r in json.load(f)["records"]] == [1, 2, 3]
    events = run_all(RunFolder(run).read_record().config, domains, run, resume=True)
    assert events[0].resumed and events[0].step == 3
    assert [e.step for e in events if isinstance(e, StepDone)] == list(range(4, 11))


def test_stop_flag_finishes_cleanly_and_says_stopped(domains, tmp_path):
    stop = threading.Event()
    events = []
    for event in train(TrainConfig(steps=50, **TINY), *domains, tmp_path / "run", stop=stop):
        events.append(event)
        if isinstance(event, StepDone) and event.step == 2:
            stop.set()
    assert isinstance(events[-2], CheckpointSaved) and events[-2].step == 2
    assert isinstance(events[-1], Finished) and events[-1].stopped and events[-1].step == 2


def test_resume_equals_an_uninterrupted_run(domains, tmp_path):
    config = TrainConfig(steps=8, seed=3, **TINY)
    full = [e.losses for e in run_all(config, domains, tmp_path / "full") if isinstance(e, StepDone)]
    stream = train(config, *domains, tmp_path / "split")
    first = []
    for event in stream:
        if isinstance(event, StepDone):
            first.append(event.losses)
            if event.step == 5:  # the image pools (size 4) are full and being sampled by now
                break
    stream.close()
    rest = [e.losses for e in run_all(config, domains, tmp_path / "split", resume=True) if isinstance(e, StepDone)]
    assert len(first + rest) == len(full) == 8
    for step, (a, b) in enumerate(zip(full, first + rest), start=1):
        for name in a:
            assert a[name] == pytest.approx(b[name], rel=1e-5, abs=1e-6), (step, name)
    final_full, final_split = load_model(tmp_path / "full"), load_model(tmp_path / "split")
    for (k, x), y in zip(final_full.state_dict().items(), final_split.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=k)


def test_batches_drawn_ahead_by_a_worker_train_exactly_as_batches_drawn_in_turn(domains, tmp_path, monkeypatch):
    """On a GPU the next batch is drawn by a worker while a step runs (`batches.Batches`); forced on
    here, the run's losses and weights are bit for bit those of batches drawn in turn."""
    from cyclegan_core.training import loop
    from cyclegan_core.training.batches import Batches

    config = TrainConfig(steps=6, seed=5, **TINY)
    in_turn = [e.losses for e in run_all(config, domains, tmp_path / "in-turn") if isinstance(e, StepDone)]
    made = []

    def ahead(data, batch_size, ahead):
        made.append(Batches(data, batch_size, ahead=True))
        return made[-1]
    monkeypatch.setattr(loop, "Batches", ahead)
    drawn_ahead = [e.losses for e in run_all(config, domains, tmp_path / "ahead") if isinstance(e, StepDone)]
    assert made and not made[0].running  # the worker ended with the run
    assert drawn_ahead == in_turn and len(in_turn) == 6
    for x, y in zip(load_model(tmp_path / "in-turn").state_dict().values(),
                    load_model(tmp_path / "ahead").state_dict().values()):
        assert torch.equal(x, y)


def test_batches_ahead_are_each_steps_own_and_a_jump_is_drawn_at_once(domains):
    from cyclegan_core.training.batches import Batches
    from cyclegan_core.training.data import UnpairedData, load_domain

    data = UnpairedData(load_domain(domains[0], "A", 36), load_domain(domains[1], "B", 36), crop_size=32, seed=2)
    batches = Batches(data, 2, ahead=True)
    try:
        for step in (0, 1, 2, 7, 8):  # 7: a resumed run's first step, not the one drawn ahead
            a, b = batches.get(step)
            expected_a, expected_b = data.batch(2, step)
            assert torch.equal(a, expected_a) and torch.equal(b, expected_b), step
        assert batches.drawing == 9 and batches.running
    finally:
        batches.close()
    assert not batches.running and batches.drawing is None


def test_resume_needs_a_run_folder(domains, tmp_path):
    with pytest.raises(RunError, match="holds no resumable run"):
        run_all(TrainConfig(**TINY), domains, tmp_path / "nothing", resume=True)
    with pytest.raises(RunError, match="not a training run folder"):
        RunFolder(tmp_path).read_record()


def test_fine_tune_keeps_the_init_architecture_and_weights(domains, tmp_path, tiny_config):
    init = load_model(save_model(__import__("cyclegan_core").CycleGAN(tiny_config.replace(norm="instance_affine")),
                                 tmp_path / "init"))
    config = TrainConfig(steps=1, init=str(tmp_path / "init"), lr=1e-12, **{**TINY, "ngf": 16, "n_blocks": 4})
    run_all(config, domains, tmp_path / "run")
    tuned = load_model(tmp_path / "run")
    c = tuned.config
    assert (c.ngf, c.n_blocks, c.norm, c.domain_a, c.domain_b) == (8, 2, "instance_affine", "apple", "orange")
    assert "fine-tuned from" in c.provenance
    for (name, a), b in zip(init.state_dict().items(), tuned.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)


def test_epochs_count_passes_over_the_larger_domain(domains, tmp_path):
    events = run_all(TrainConfig(epochs=2, batch_size=2, preview_every=100, **TINY), domains, tmp_path / "run")
    assert events[0].total_steps == 2 * math.ceil(3 / 2) and events[-1].step == 4


def test_empty_domain_stops_before_training(domains, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CycleGANError, match="domain B: 0 usable"):
        list(train(TrainConfig(**TINY), domains[0], tmp_path / "empty", tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_diverged_run_stops_clearly_and_keeps_the_last_saved_state(domains, tmp_path, monkeypatch):
    from cyclegan_core.training import trainer as trainer_module
    real_cycle_loss, calls = trainer_module.cycle_loss, []

    def poisoned(*args):  # the 5th step's forward cycle loss is NaN, as if the weights had blown up
        calls.append(1)
        loss = real_cycle_loss(*args)
        return loss * float("nan") if len(calls) == 9 else loss

    monkeypatch.setattr(trainer_module, "cycle_loss", poisoned)
    run = tmp_path / "run"
    steps = []
    with pytest.raises(RunError, match=r"training diverged at step 5 \(cycle_A = nan\); the last saved state "
                                       r"\(step 4\) is kept"):
        for event in train(TrainConfig(steps=10, checkpoint_every=2, preview_every=100, **TINY), *domains, run):
            steps += [event.step] if isinstance(event, StepDone) else []
    assert steps == [1, 2, 3, 4]  # step 5 was never reported as done
    folder = RunFolder(run)
    assert folder.steps_done() == 4 and [r["step"] for r in folder.read_log()] == [1, 2, 3, 4]
    assert all(torch.isfinite(t).all() for t in load_model(run).state_dict().values())
