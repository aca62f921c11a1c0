"""The compiled fast path: torch.compile'd window functions, warmed up off the request path.

`streaming.translate_streamed` evaluates a generator as eight small tensor functions over
windows (`streaming.WINDOW_FUNCTIONS`). Compiled with `dynamic=True`, each is compiled once for
every window shape, image size and model (weights are arguments), fusing each norm's affine
map, ReLU and padding into the convolution's input (≈1.4× on the residual blocks on a 2-core
CPU). Compiling takes tens of seconds, so `WindowCompiler.start()` does it in a background
thread while requests run eagerly; `runner()` switches to the compiled functions once all are
ready. Compiled artefacts are cached on disk (Inductor's cache, in `compile_cache_dir()`), so a
restart recompiles in seconds. If compiling fails (no C compiler, unsupported platform) the
error is kept and everything stays eager.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import torch

from .inference import PRECISIONS
from .networks import ResnetGenerator
from .streaming import WINDOW_FUNCTIONS, Runner, eager_runner, translate_streamed

log = logging.getLogger(__name__)

COMPILE_MODES = ("auto", "on", "off")


def compile_cache_dir() -> Path:
    """Where compiled kernels persist across restarts: `CYCLEGAN_COMPILE_CACHE`, else
    `~/.cache/cyclegan-studio/torch-compile` (Inductor's own TORCHINDUCTOR_CACHE_DIR wins if set)."""
    configured = os.environ.get("CYCLEGAN_COMPILE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "cyclegan-studio" / "torch-compile"


def compile_mode() -> str:
    """`CYCLEGAN_COMPILE`: `auto` (compile in long-running processes: the app, multi-image CLI runs),
    `on`, or `off`."""
    mode = os.environ.get("CYCLEGAN_COMPILE", "auto").lower()
    if mode not in COMPILE_MODES:
        raise ValueError(f"CYCLEGAN_COMPILE={mode!r}; expected one of {', '.join(COMPILE_MODES)}")
    return mode


class WindowCompiler:
    """Compiles the window functions for one precision ("fp32" or "bf16") in the background."""

    def __init__(self, precision: str = "fp32"):
        if precision not in PRECISIONS or precision == "auto":
            raise ValueError(f"a compiled path needs a resolved precision (fp32 or bf16), not {precision!r}")
        self.precision = precision
        self.error: BaseException | None = None
        self.seconds: float | None = None  # how long warm-up took
        self._compiled: dict = {}
        self._ready = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def state(self) -> str:
        if self.ready:
            return "compiled"
        if self.error is not None:
            return f"eager (compile failed: {type(self.error).__name__}: {self.error})"
        return "eager (compiling in the background)" if self._thread else "eager"

    def start(self) -> "WindowCompiler":
        """Begin compiling in a daemon thread (once); returns at once."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._warm_up, name="cyclegan-compile", daemon=True)
                self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until compiling has finished or failed (for scripts and tests); True if compiled."""
        self.start()
        self._done.wait(timeout)
        return self.ready

    def runner(self) -> Runner:
        """The compiled window functions if ready, else eager ones. Never blocks."""
        return self._run_compiled if self.ready else eager_runner

    def _run_compiled(self, name: str, args: tuple) -> torch.Tensor:
        return self._compiled[name](*args)

    def _warm_up(self) -> None:
        started = time.perf_counter()
        try:
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(compile_cache_dir()))
            compiled = {name: torch.compile(fn, dynamic=True) for name, fn in WINDOW_FUNCTIONS.items()}
            # A tiny random generator and image exercise every function; with dynamic shapes the
            # result serves every model and image size. Two sizes: the second must not recompile.
            generator = ResnetGenerator(ngf=8, n_blocks=1).eval()
            for size in ((40, 48), (72, 56)):
                translate_streamed(generator, torch.zeros(1, 3, *size), self.precision,
                                   runner=lambda name, args: compiled[name](*args), core=4)
            self._compiled = compiled
            self.seconds = time.perf_counter() - started
            self._ready.set()
            log.info("compiled window functions (%s) in %.1f s", self.precision, self.seconds)
        except Exception as error:  # noqa: BLE001 — any failure means: stay eager, say why
            self.error = error
            log.warning("torch.compile unavailable, translating eagerly: %s", error)
        finally:
            self._done.set()
