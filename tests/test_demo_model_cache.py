"""demo/model_cache.py: a bounded LRU of loaded models, one load per source under concurrency."""

import threading
import time

import pytest

from cyclegan_core import CycleGANError
from demo.model_cache import ModelCache


class Loads:
    """A loader that records its calls and returns a distinct object per call."""

    def __init__(self, delay=0.0, fail_first=False):
        self.calls, self.delay, self.fail_first = [], delay, fail_first

    def __call__(self, source):
        self.calls.append(source)
        time.sleep(self.delay)
        if self.fail_first and len(self.calls) == 1:
            raise CycleGANError("offline")
        return {"source": source, "load": len(self.calls)}


def test_cache_is_lru_and_bounded():
    loads = Loads()
    cache = ModelCache(capacity=2, loader=loads)
    a = cache.get("a")
    assert cache.get("b") == {"source": "b", "load": 2}
    assert cache.get("a") is a and loads.calls == ["a", "b"]
    cache.get("c")  # evicts b, the least recently used
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.get("b") == {"source": "b", "load": 4}
    cache.forget("b")
    assert "b" not in cache


def test_cache_loads_a_source_once_under_concurrency():
    loads = Loads(delay=0.2)
    cache = ModelCache(loader=loads)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("x"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads.calls == ["x"] and len(results) == 4 and all(r is results[0] for r in results)


def test_failed_load_is_not_cached():
    loads = Loads(fail_first=True)
    cache = ModelCache(loader=loads)
    with pytest.raises(CycleGANError, match="offline"):
        cache.get("x")
    assert "x" not in cache
    assert cache.get("x") == {"source": "x", "load": 2} and loads.calls == ["x", "x"]


def test_a_loaded_model_warms_up_and_prefetch_loads_ahead_once(tiny_model, monkeypatch):
    from cyclegan_core import CycleGAN
    warmed = []
    monkeypatch.setattr(CycleGAN, "warm_up", lambda self, precision="auto": warmed.append(self))
    loads = Loads(delay=0.3)
    cache = ModelCache(capacity=2, loader=lambda source: (loads(source), tiny_model)[1])
    first = cache.prefetch("a")
    assert first is not None
    assert cache.prefetch("b") is first and cache.prefetch("c") is first  # one at a time; the latest waits
    first.join(timeout=10)
    assert not first.is_alive() and "a" in cache and "c" in cache and "b" not in cache
    assert loads.calls == ["a", "c"] and warmed == [tiny_model, tiny_model]  # a burst costs two loads
    assert cache.prefetch("a") is None  # here already: nothing to do
    assert cache.get("a") is tiny_model and loads.calls == ["a", "c"] and len(warmed) == 2
    second = cache.prefetch("d")  # after the burst: a new thread
    assert second is not None and second is not first
    second.join(timeout=10)
    assert loads.calls == ["a", "c", "d"]
    cache.get("e")
    assert len(warmed) == 4  # every load warms up, the requested ones too


def test_a_failed_prefetch_is_logged_and_the_request_loads_again(caplog):
    loads = Loads(fail_first=True)
    cache = ModelCache(loader=loads)
    cache.prefetch("a").join(timeout=10)
    assert "a" not in cache and "ahead of its first request failed" in caplog.text
    assert cache.get("a") == {"source": "a", "load": 2}
