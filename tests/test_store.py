"""store.py: the local model store lists models and runs by name and makes fresh run folders."""

import pytest

from cyclegan_core import ModelStore, RunError, RunFolder, TrainConfig, load, save_model, weights_dir


def test_lists_models_and_runs_not_zoo_caches_or_junk(tiny_model, offline_sandbox):
    store = ModelStore()
    assert store.root == weights_dir() == offline_sandbox / "weights"
    assert store.models() == [] and store.runs() == []  # no folder yet
    save_model(tiny_model, store.root / "fruit")
    save_model(tiny_model, store.root / "horse2zebra")  # a cached zoo model
    (store.root / "not-a-model").mkdir()
    (store.root / "broken").mkdir()
    (store.root / "broken" / "config.json").write_text("{")
    (store.root / "broken" / "model.safetensors").write_bytes(b"")
    run = store.new_run("fruit")  # the name is taken: fruit-2
    save_model(tiny_model, run.path)
    (run.path / "train.json").write_text("{}")
    (run.path / "training_state.safetensors").write_bytes(b"")
    assert [(m.name, m.resumable) for m in store.models()] == [("fruit", False), ("fruit-2", True)]
    assert [m.name for m in store.models(include_zoo=True)] == ["fruit", "fruit-2", "horse2zebra"]
    assert [m.name for m in store.runs()] == ["fruit-2"]
    assert store.models()[0].config.domain_a == "apple"


def test_new_run_names_are_safe_unique_and_never_a_zoo_name(offline_sandbox):
    store = ModelStore()
    assert store.new_run("cats → dogs!").name == "cats-dogs"
    assert store.new_run("cats → dogs!").name == "cats-dogs-2"
    assert store.new_run("../../etc").name == "etc"
    assert store.new_run("   ").name == "my-model"
    assert store.new_run("horse2zebra").name == "horse2zebra-2"
    assert all(p.parent == store.root for p in store.root.iterdir())


def test_names_never_reach_outside_the_store(offline_sandbox):
    store = ModelStore()
    for name in ("../x", "/etc", "a/b", ".", "..", ""):
        with pytest.raises(RunError, match="is not a model name"):
            store.run(name)


def test_delete_removes_a_model_but_not_a_zoo_cache(tiny_model, offline_sandbox):
    store = ModelStore()
    save_model(tiny_model, store.root / "fruit")
    (store.root / "fruit" / "data").mkdir()
    store.delete("fruit")
    assert not (store.root / "fruit").exists()
    with pytest.raises(RunError, match="no model called 'fruit'"):
        store.delete("fruit")
    with pytest.raises(RunError, match="official zoo model"):
        store.delete("horse2zebra")


def visitor_run(store, name, owner, steps, stop_at, domains, payload=0):
    """A real tiny run made by `owner`, stopped at `stop_at` of `steps`, with `payload` bytes of data."""
    from cyclegan_core import TrainConfig
    from cyclegan_core.training.loop import StepDone, train
    config = TrainConfig(steps=steps, ngf=8, n_blocks=1, ndf=8, n_layers_D=2, load_size=36, crop_size=32,
                         precision="fp32", preview_every=100)
    stream = train(config, *domains, store.root / name, owner=owner)
    for event in stream:
        if isinstance(event, StepDone) and event.step == stop_at:
            break
    stream.close()
    (store.root / name / "data").mkdir(exist_ok=True)
    (store.root / name / "data" / "blob").write_bytes(b"\0" * payload)


@pytest.fixture
def tiny_domains(tmp_path):
    import numpy as np
    from PIL import Image
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            tmp_path / name / "0.png")
    return tmp_path / "a", tmp_path / "b"


def test_make_room_evicts_finished_runs_first_then_the_oldest_never_kept_ones(tiny_model, offline_sandbox,
                                                                             tiny_domains):
    import os
    store = ModelStore()
    save_model(tiny_model, store.root / "placed")  # the owner's: never evicted
    visitor_run(store, "stopped-old", "v1", steps=5, stop_at=1, domains=tiny_domains, payload=200_000)
    visitor_run(store, "finished", "v2", steps=1, stop_at=1, domains=tiny_domains, payload=200_000)
    visitor_run(store, "stopped-new", "v3", steps=5, stop_at=1, domains=tiny_domains, payload=200_000)
    os.utime(store.root / "stopped-old" / "training_state.safetensors", (1, 1))  # long ago
    sizes = dict((m.name, size) for m, size in store.visitor_runs())
    assert set(sizes) == {"stopped-old", "finished", "stopped-new"}
    used = sum(sizes.values())
    assert store.make_room(10, used + 10) == []  # it fits: nothing goes
    assert store.make_room(10, used) == ["finished"]  # finished runs go first
    kept = store.root / "stopped-old"
    assert store.make_room(10, sizes["stopped-old"] + 10, keep=[kept]) == ["stopped-new"]
    with pytest.raises(RunError, match="more than can be made free now"):
        store.make_room(10, sizes["stopped-old"], keep=[kept])  # the kept run is never evicted
    assert [m.name for m in store.models()] == ["placed", "stopped-old"]


def placed_run(store, folder, owner, model):
    """A model in the store's `folder` with a record owned by `owner` (None: the Space's owner's)."""
    run = RunFolder(store.root / folder)
    save_model(model, run.path)
    if owner is not None:
        run.write_record(TrainConfig(), run.path, run.path, owner=owner)
    return run


def test_run_names_live_per_visitor(tiny_model, offline_sandbox):
    """Two visitors who call a run "cats" both get "cats"; each sees only theirs; -2 only for a name that
    the visitor sees already (theirs, the owner's, the zoo's); the folders on disk differ."""
    store = ModelStore()
    placed_run(store, "tiny", None, tiny_model)  # the Space owner's
    alices = store.new_run("cats", owner="alice")
    save_model(tiny_model, alices.path)
    alices.write_record(TrainConfig(), alices.path, alices.path, owner="alice")
    bobs = store.new_run("cats", owner="bob")
    assert (alices.name, bobs.name) == ("cats", "cats") and alices.path != bobs.path
    assert bobs.path.name == "cats+bob" and bobs.path.parent == store.root
    placed_run(store, "cats+bob", "bob", tiny_model)

    def view(owner):
        return [(m.name, m.owner) for m in store.visible_models(lambda m: m.owner in (None, owner))]
    assert view("alice") == [("cats", "alice"), ("tiny", None)]
    assert view("bob") == [("cats", "bob"), ("tiny", None)]
    assert store.new_run("cats", owner="alice").name == "cats-2"  # her own name is taken: -2
    assert store.new_run("cats", owner="carol").name == "cats"  # nobody Carol sees has it
    assert store.new_run("tiny", owner="bob").name == "tiny-2"  # the owner's model's name
    assert store.new_run("horse2zebra", owner="bob").name == "horse2zebra-2"
    # The CLI and the Python API see folders, by their names; a run in "<name>+<id>" loads as any folder.
    assert [m.name for m in store.models()] == ["cats", "cats+bob", "tiny"]
    assert load("cats+bob").config.domain_a == "apple"
    with pytest.raises(RunError, match="is not a visitor id"):
        store.new_run("x", owner="../../etc")


def test_a_clash_of_names_in_one_view_keeps_the_owners_and_shows_the_others_folder(tiny_model, offline_sandbox):
    store = ModelStore()
    placed_run(store, "cats", None, tiny_model)  # placed after Bob named a run "cats", say
    placed_run(store, "cats+bob", "bob", tiny_model)
    placed_run(store, "dogs", "alice", tiny_model)
    placed_run(store, "dogs+bob", "bob", tiny_model)  # both seen when runs are shared
    names = {(m.name, m.path.name) for m in store.visible_models()}
    assert names == {("cats", "cats"), ("cats+bob", "cats+bob"), ("dogs", "dogs"), ("dogs+bob", "dogs+bob")}
    assert [m.name for m in store.visible_models(lambda m: m.owner == "bob")] == ["cats", "dogs"]


def test_visitor_spaces_count_in_the_budget_and_go_first(tiny_model, offline_sandbox, tiny_domains):
    store = ModelStore()
    visitor_run(store, "stopped", "v1", steps=5, stop_at=1, domains=tiny_domains, payload=100_000)
    item = store.visitor_space("v2") / "discriminators" / "zoo-horse2zebra-0123"
    item.mkdir(parents=True)
    (item / "discriminators.safetensors").write_bytes(b"\0" * 300_000)
    run_bytes = dict((m.name, size) for m, size in store.visitor_runs())["stopped"]
    assert store.visitor_kept() == [(item, 300_000)] and store.visitor_bytes() == run_bytes + 300_000
    running = [store.root / "stopped"]  # a run in progress is never evicted
    assert store.make_room(10, run_bytes + 300_000, keep=running) == [".visitors/v2/discriminators/zoo-horse2zebra-0123"]
    assert not item.exists() and store.visitor_bytes() == run_bytes
    with pytest.raises(RunError, match="more than can be made free now"):
        store.make_room(10, run_bytes, keep=running)
    assert store.make_room(10, run_bytes) == ["stopped"]
    with pytest.raises(RunError, match="needs a visitor id"):
        store.visitor_space("../x")
