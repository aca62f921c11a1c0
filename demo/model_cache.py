"""A small LRU cache of loaded models, safe to share between Gradio's worker threads. Keys are the
sources a visitor may name (`cyclegan_core.public_sources`): never server paths.

Switching back to a recently used task is instant; at most `capacity` models stay in memory
(a full 9-block model pair is ≈90 MB). Concurrent requests for the same source load it once. A
loaded model warms up in the background (`CycleGAN.warm_up`: a runtime backend's compiled model),
and `prefetch` loads one ahead of its first request (a task chosen, the page opened).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from typing import Callable

from cyclegan_core import CycleGAN
from cyclegan_core.engine.compiled import WindowCompiler, should_compile
from cyclegan_core.public_sources import load_public

from .zerogpu import model_device, on_zerogpu

log = logging.getLogger(__name__)


class ModelCache:
    def __init__(self, capacity: int = 4, loader: Callable[[str], CycleGAN] | None = None):
        """`loader`: source → model (default: `load_public`, on the CPU on ZeroGPU, where models move to
        the GPU inside each GPU call, `zerogpu.on_device`, and nothing warms up in the main process)."""
        self.capacity = capacity
        self.loader = loader or functools.partial(load_public, device=model_device())
        self.warm = not on_zerogpu()
        self._models: OrderedDict[str, CycleGAN] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._compiler: WindowCompiler | None = None  # shared: compiled windows serve every model
        self._prefetching: threading.Thread | None = None  # one load ahead at a time
        self._next_prefetch: str | None = None  # the latest source asked for while it runs

    def get(self, source: str) -> CycleGAN:
        with self._lock:
            if source in self._models:
                self._models.move_to_end(source)
                return self._models[source]
            source_lock = self._loading.setdefault(source, threading.Lock())
        with source_lock:  # one load per source; others wait for it
            with self._lock:
                if source in self._models:
                    return self._models[source]
            try:
                model = self.loader(source)
            finally:
                with self._lock:
                    self._loading.pop(source, None)
            with self._lock:
                if isinstance(model, CycleGAN) and should_compile(model.device):  # background, never blocks
                    self._compiler = self._compiler or WindowCompiler()
                    model.compiler = self._compiler
                self._models[source] = model
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
            if isinstance(model, CycleGAN) and self.warm:
                model.warm_up()
            return model

    def prefetch(self, source: str) -> threading.Thread | None:
        """Load `source` in the background (then it warms up), unless it is here; the caller has checked
        that nothing needs downloading. One load runs at a time: a source asked for while another loads
        waits its turn, and only the latest one asked for does (a burst of choices costs two loads at
        most). Returns the thread doing the work."""
        with self._lock:
            if source in self._models:
                return None
            if self._prefetching is not None and self._prefetching.is_alive():
                self._next_prefetch = source
                return self._prefetching

            def work(wanted: str):
                while wanted is not None:
                    try:
                        self.get(wanted)
                    except Exception:  # noqa: BLE001 — ahead of time only: the request reports it
                        log.exception("loading %s ahead of its first request failed", wanted)
                    with self._lock:
                        wanted, self._next_prefetch = self._next_prefetch, None
                        if wanted is None:
                            self._prefetching = None
            self._prefetching = threading.Thread(target=work, args=(source,), name="cyclegan-prefetch",
                                                daemon=True)
            self._prefetching.start()
            return self._prefetching

    def forget(self, source: str) -> None:
        """Drop a source (e.g. after its folder was retrained) so the next get reloads it."""
        with self._lock:
            self._models.pop(source, None)

    def __contains__(self, source: str) -> bool:
        with self._lock:
            return source in self._models
