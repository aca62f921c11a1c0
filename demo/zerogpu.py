"""ZeroGPU: a Hugging Face Space that lends a GPU to each call of a Gradio app, through the `spaces`
package. A function that needs CUDA runs under `spaces.GPU(duration=…)`: on ZeroGPU it runs where a
GPU is attached for at most that many seconds (an estimate from the call's own arguments, so a small
picture asks for little), and CUDA is never touched in the main process (models load with CUDA
patched by `spaces`, as `sources.resolve.default_device` asks for it). Off ZeroGPU, `spaces.GPU` gives
the function back as it is, and nothing here changes the app.

`on_gpu(fn, duration)` is the one place that applies it; every function it wraps carries its estimate
as `gpu_duration` (seconds, a function of the same arguments), wherever it runs.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
from typing import Callable

MAX_SECONDS = 120  # one call's longest GPU loan asked for


def on_zerogpu() -> bool:
    """Whether this app runs on a ZeroGPU Space: `spaces` is installed and its setting is on."""
    return (os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true")
            and importlib.util.find_spec("spaces") is not None)


def on_gpu(fn: Callable, duration: Callable[..., float]) -> Callable:
    """`fn` under `spaces.GPU(duration=duration)` on ZeroGPU, else `fn` as it is, in a function (a
    generator function where `fn` is one, as Gradio must see it) that carries `gpu_duration`."""
    target = fn
    if on_zerogpu():
        import spaces
        target = spaces.GPU(fn, duration=duration)
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            yield from target(*args, **kwargs)
    else:
        @functools.wraps(fn)
        def call(*args, **kwargs):
            return target(*args, **kwargs)
    call.gpu_duration = duration
    return call


def translation_seconds(pixels: int | None) -> int:
    """A GPU loan for translating a picture of `pixels` (None: not known yet): moving the model to
    the GPU and the first CUDA work take seconds; the pass itself tens of milliseconds per megapixel."""
    megapixels = (pixels or 12_000_000) / 1e6
    return int(min(MAX_SECONDS, 10 + 2 * megapixels))
