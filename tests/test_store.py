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
