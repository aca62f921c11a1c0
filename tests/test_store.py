"""store.py: the local model store lists models and runs by name and makes fresh run folders."""

import pytest

from cyclegan_core import ModelStore, RunError, save_model, weights_dir


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
    from cyclegan_core.train import StepDone, train
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
