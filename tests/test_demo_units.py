"""The UI's plain-Python parts: task lists and the model cache."""

import threading
import time

import pytest

from cyclegan_core import CycleGANError, save_model
from demo.model_cache import ModelCache
from demo.tasks import Task, all_tasks, local_tasks, parse_task, zoo_tasks


def test_zoo_tasks_cover_the_four_directions():
    labels = [t.label for t in zoo_tasks()]
    assert labels == ["summer → winter", "winter → summer", "horse → zebra", "zebra → horse"]
    assert parse_task("zebra → horse", zoo_tasks()) == Task("horse2zebra", "BtoA", "zebra → horse")


def test_local_models_are_listed_with_both_directions(tiny_model, offline_sandbox):
    weights = offline_sandbox / "weights"
    save_model(tiny_model, weights / "fruit")
    (weights / "not-a-model").mkdir()
    save_model(tiny_model, weights / "horse2zebra")  # a cached zoo model is not listed twice
    tasks = local_tasks()
    assert [(t.label, t.direction) for t in tasks] == [("fruit: apple → orange", "AtoB"),
                                                      ("fruit: orange → apple", "BtoA")]
    assert tasks[0].source == str(weights / "fruit")
    assert len(all_tasks()) == 6


def test_parse_task_explicit_form_and_errors():
    assert parse_task("owner/repo@v1:BtoA", zoo_tasks()) == Task("owner/repo@v1", "BtoA", "owner/repo@v1:BtoA")
    with pytest.raises(CycleGANError, match="unknown task 'cat → dog'"):
        parse_task("cat → dog", zoo_tasks())
    with pytest.raises(CycleGANError, match="unknown task"):
        parse_task("owner/repo:sideways", zoo_tasks())


def test_cache_is_lru_and_bounded():
    loads = []
    cache = ModelCache(capacity=2, loader=lambda s: loads.append(s) or object())
    a = cache.get("a")
    cache.get("b")
    assert cache.get("a") is a and loads == ["a", "b"]
    cache.get("c")  # evicts b, the least recently used
    assert "b" not in cache and "a" in cache and "c" in cache
    cache.get("b")
    assert loads == ["a", "b", "c", "b"]
    cache.forget("b")
    assert "b" not in cache


def test_cache_loads_a_source_once_under_concurrency():
    loads = []

    def slow(source):
        loads.append(source)
        time.sleep(0.2)
        return object()

    cache = ModelCache(loader=slow)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("x"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["x"] and len({id(r) for r in results}) == 1


def test_failed_load_is_not_cached():
    calls = []

    def flaky(source):
        calls.append(source)
        if len(calls) == 1:
            raise CycleGANError("offline")
        return object()

    cache = ModelCache(loader=flaky)
    with pytest.raises(CycleGANError):
        cache.get("x")
    assert cache.get("x") is not None and len(calls) == 2
