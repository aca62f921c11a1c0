"""runs.py: a run folder's files, its record and log, steps done, resume checks, save/restore."""

import json

import pytest
import torch

from cyclegan_core import CycleGANTrainer, RunError, RunFolder, TrainConfig, load_model
from cyclegan_core.training.loop import StepDone, train

from conftest import TINY, noise_pictures


@pytest.fixture
def domains(tmp_path):
    noise_pictures(tmp_path, {"a": 2, "b": 2}, size=(40, 40), subfolders=True)
    return tmp_path / "a", tmp_path / "b"


def stopped_run(domains, folder, steps=5, stop_at=2):
    stream = train(TrainConfig(steps=steps, checkpoint_every=100, preview_every=100, **TINY), *domains, folder)
    for event in stream:
        if isinstance(event, StepDone) and event.step == stop_at:
            break
    stream.close()
    return RunFolder(folder)


def test_an_empty_folder_is_nothing_yet(tmp_path):
    run = RunFolder(tmp_path / "new")
    assert not run.is_model() and not run.is_resumable() and run.steps_done() == 0 and run.read_log() == []
    run.require_new()  # does not exist: fine
    (tmp_path / "new").mkdir()
    run.require_new()  # empty: fine
    (tmp_path / "new" / "precious.txt").write_text("keep me")
    with pytest.raises(RunError, match="is not empty"):
        run.require_new()
    with pytest.raises(RunError, match="holds no resumable run"):
        run.resume_record()
    with pytest.raises(RunError, match="not a training run folder"):
        run.read_record()


def test_a_stopped_run_knows_its_steps_log_and_record(domains, tmp_path):
    run = stopped_run(domains, tmp_path / "run")
    assert run.is_model() and run.is_resumable() and run.steps_done() == 2
    assert [r["step"] for r in run.read_log()] == [1, 2]
    record = run.read_record()
    assert record.config.steps == 5 and record.data_a == str(domains[0].resolve())
    assert run.resume_record().config.steps == 5
    assert run.resume_record(steps=9).config.steps == 9
    with pytest.raises(RunError, match="has done 2 of its 2 steps"):
        run.resume_record(steps=2)
    with pytest.raises(RunError, match="already holds a model or a run"):
        run.refuse_overwrite()
    assert run.preview_path(7) == run.path / "previews" / "step_000007.png"


def test_save_then_restore_gives_back_the_same_trainer(domains, tmp_path):
    run = stopped_run(domains, tmp_path / "run", stop_at=3)
    config = run.read_record().config
    fresh = CycleGANTrainer(load_model(run.path), config)
    log = run.restore(fresh)
    assert fresh.steps_done == 3 and [r["step"] for r in log] == [1, 2, 3]
    assert len(fresh.pool_A.images) == 3
    again = CycleGANTrainer(load_model(run.path), config)
    run.restore(again)
    for a, b in zip(fresh.D_B.parameters(), again.D_B.parameters()):
        assert torch.equal(a, b)
    assert fresh.opt_G.state_dict()["state"][0]["step"] == 3


def test_damaged_files_are_named(domains, tmp_path):
    run = stopped_run(domains, tmp_path / "run")
    (run.path / "log.json").write_text("{ torn")
    with pytest.raises(RunError, match="log.json is damaged"):
        run.read_log()
    (run.path / "train.json").write_text(json.dumps({"config": {"colour": 1}, "data_a": "", "data_b": ""}))
    with pytest.raises(RunError, match="unknown training settings"):
        run.read_record()
    (run.path / "training_state.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(RunError, match="is not a readable training state"):
        run.steps_done()


def test_kept_data_and_deletion(domains, tmp_path):
    run = RunFolder(tmp_path / "run")
    kept = run.keep_data("A", sorted(domains[0].iterdir()))
    assert sorted(p.name for p in kept.iterdir()) == ["00000-0.png", "00001-1.png"]
    assert run.delete_if_untrained() and not run.path.exists()  # nothing trained: data goes too
    trained = stopped_run(domains, tmp_path / "trained")
    assert not trained.delete_if_untrained() and trained.is_model()
    trained.delete()
    assert not trained.path.exists()


def test_copy_to_makes_a_run_of_ones_own_that_continues_and_leaves_the_source_as_it_was(domains, tmp_path):
    import hashlib
    source = stopped_run(domains, tmp_path / "placed", stop_at=2)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in source.path.rglob("*") if p.is_file()}
    copy = RunFolder(tmp_path / "mine", "mine")
    (tmp_path / "mine").mkdir()
    record = source.copy_to(copy, owner="v1")
    assert record.owner == copy.owner() == "v1" and source.owner() is None
    assert copy.is_resumable() and copy.steps_done() == 2 and copy.read_log() == source.read_log()
    assert (record.data_a, record.config) == (source.read_record().data_a, source.read_record().config)
    events = list(train(record.config.replace(steps=4), record.data_a, record.data_b, copy.path, resume=True))
    assert [e.step for e in events if isinstance(e, StepDone)] == [3, 4]
    assert [r["step"] for r in copy.read_log()] == [1, 2, 3, 4]
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in source.path.rglob("*") if p.is_file()}
    assert after == before  # only read
    with pytest.raises(RunError, match="is not empty"):
        source.copy_to(copy, owner="v1")  # never over another run
    assert copy.name == "mine" and RunFolder(tmp_path / "mine").name == "mine"
