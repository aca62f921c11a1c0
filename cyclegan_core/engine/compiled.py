"""Optional torch.compile'd window functions, compiled off the request path.

`streaming.translate_streamed` evaluates a generator as small tensor functions over windows
(`streaming.WINDOW_FUNCTIONS`); `WindowCompiler.runner()` returns a runner that uses a compiled
version of a function only for argument shapes already compiled. A new shape is run eagerly at
once and handed to a background thread that compiles it (and warms it up), so a request never
waits for the compiler. Compiled artefacts persist across restarts in Inductor's cache
(`compile_cache_dir()`). If compiling fails (no C compiler, unsupported platform), the error is
kept and everything stays eager.

Whether it pays is measured by `benchmarks/translate_speed.py --compile` (results in
benchmarks/README.md): on CPUs the convolutions, which oneDNN runs the same way compiled or not,
dominate, so compiling brought no consistent gain for many seconds of compiling per window shape.
The default (`CYCLEGAN_COMPILE=auto`) therefore compiles only on CUDA devices; `on` forces it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path

import torch

from cyclegan_core.engine.streaming import WINDOW_FUNCTIONS, Runner

log = logging.getLogger(__name__)

COMPILE_MODES = ("auto", "on", "off")


def compile_cache_dir() -> Path:
    """Where compiled kernels persist across restarts: `CYCLEGAN_COMPILE_CACHE`, else
    `~/.cache/cyclegan-studio/torch-compile` (Inductor's own TORCHINDUCTOR_CACHE_DIR wins if set)."""
    configured = os.environ.get("CYCLEGAN_COMPILE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "cyclegan-studio" / "torch-compile"


def compile_mode() -> str:
    """`CYCLEGAN_COMPILE`: `auto` (compile where it pays: CUDA devices), `on`, or `off`."""
    mode = os.environ.get("CYCLEGAN_COMPILE", "auto").lower()
    if mode not in COMPILE_MODES:
        raise ValueError(f"CYCLEGAN_COMPILE={mode!r}; expected one of {', '.join(COMPILE_MODES)}")
    return mode


def should_compile(device: torch.device) -> bool:
    mode = compile_mode()
    return mode == "on" or (mode == "auto" and device.type == "cuda")


def _signature(name: str, args: tuple) -> tuple:
    return (name, *((tuple(a.shape), a.dtype, a.device.type) for a in args))


class WindowCompiler:
    """Compiles window functions in a background thread, one argument signature at a time.

    `runner()` never blocks: compiled where that signature is ready, eager otherwise."""

    def __init__(self):
        self.error: BaseException | None = None
        self.compiled_count = 0
        self.seconds = 0.0  # total time spent compiling
        self._functions: dict = {}
        self._ready: set = set()
        self._queued: set = set()
        self._lock = threading.Lock()
        self._work: queue.Queue = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> str:
        if self.error is not None:
            return f"eager (compile failed: {type(self.error).__name__}: {self.error})"
        with self._lock:
            pending = len(self._queued) - len(self._ready)
        if pending:
            return f"compiling {pending} window shape(s) in the background; eager meanwhile"
        if self.compiled_count:
            return f"compiled ({self.compiled_count} window shapes in {self.seconds:.0f} s)"
        return "eager (nothing compiled yet)"

    def runner(self) -> Runner:
        return self._run

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background queue is empty (scripts and tests); True if nothing failed."""
        self._idle.wait(timeout)
        return self.error is None

    def _run(self, name: str, args: tuple) -> torch.Tensor:
        key = _signature(name, args)
        with self._lock:
            ready = key in self._ready
            if not ready and self.error is None and key not in self._queued:
                self._queued.add(key)
                self._idle.clear()
                # Copies: the caller's buffers change after this call returns.
                self._work.put((key, name, tuple(a.detach().clone() for a in args)))
                self._start()
        if ready:
            return self._functions[name](*args)
        return WINDOW_FUNCTIONS[name](*args)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._worker, name="cyclegan-compile", daemon=True)
            self._thread.start()

    def _worker(self) -> None:
        while True:
            key, name, args = self._work.get()
            started = time.perf_counter()
            try:
                if self.error is None:
                    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(compile_cache_dir()))
                    function = self._functions.get(name)
                    if function is None:
                        function = self._functions[name] = torch.compile(WINDOW_FUNCTIONS[name], dynamic=False)
                    with torch.inference_mode():
                        function(*args)  # compiles this signature
                    with self._lock:
                        self._ready.add(key)
                        self.compiled_count += 1
                        self.seconds += time.perf_counter() - started
            except Exception as error:  # noqa: BLE001 — any failure means: stay eager, say why
                self.error = error
                log.warning("torch.compile unavailable, translating eagerly: %s", error)
            finally:
                with self._lock:
                    if self._work.empty():
                        self._idle.set()
