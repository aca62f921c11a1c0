"""ZeroGPU: a Hugging Face Space that lends a GPU to each call of a Gradio app, through the `spaces`
package. A function that needs CUDA runs under `spaces.GPU(duration=…)`: on ZeroGPU it runs where a
GPU is attached for at most that many seconds (an estimate from the call's own arguments, so a small
picture asks for little), and CUDA is never touched in the main process (models load with CUDA
patched by `spaces`, as `sources.resolve.default_device` asks for it). Off ZeroGPU, `spaces.GPU` gives
the function back as it is, and nothing here changes the app.

`on_gpu(fn, duration)` is the one place that applies it; every function it wraps carries its estimate
as `gpu_duration` (seconds, a function of the same arguments), wherever it runs. A training run is
longer than one loan: `train_in_loans` trains it in loans of at most `MAX_SECONDS`, each resuming
the state the one before saved, and Stop reaches the forked process through `training.StopFlag`.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
from pathlib import Path
from typing import Callable, Iterator

import torch

from cyclegan_core.sources.resolve import default_device
from cyclegan_core.training.config import TrainConfig
from cyclegan_core.training.loop import Event, Finished, Started, StepDone, train
from cyclegan_core.training.runs import RunFolder

MAX_SECONDS = 120  # one call's longest GPU loan asked for
GPU_DEVICE = "cuda"  # where a ZeroGPU call's work runs (its GPU)
LOAN_START_SECONDS = 20  # a training loan's start: the data read, the model moved to the GPU, the first steps
GUESSED_STEP_SECONDS = 0.1  # a step of the Train tab's small model at 256² on a ZeroGPU card, before one is measured


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


def main_cpus() -> int | None:
    """The CPU threads the app's own process computes with (`CoreShare`): one on ZeroGPU, else all
    (None). Each GPU call runs in a process forked from this one, and an OpenMP thread team does not
    survive a fork: a forked process whose parent ever ran a team of two or more hangs in its first
    parallel CPU operation (seen with torch's libgomp). One thread here keeps every GPU call safe."""
    return 1 if on_zerogpu() else None


def model_device() -> str | None:
    """Where the app's model cache loads models: on ZeroGPU the CPU (the main process never touches
    CUDA; `on_device` moves a model inside the GPU call), else the default (None: the GPU if any)."""
    return "cpu" if on_zerogpu() else None


def work_device() -> str:
    """The device a GPU call's work runs on: CUDA on ZeroGPU (inside the call), else the default."""
    return GPU_DEVICE if on_zerogpu() else default_device()


def on_device(model):
    """`model` (a `CycleGAN`, or any module) on `work_device()`: inside a ZeroGPU call it moves to the
    call's GPU (the forked process's copy; the main process's stays on the CPU). Else as it is."""
    if on_zerogpu() and model.device != torch.device(GPU_DEVICE):
        model.to(GPU_DEVICE)
    return model


def translation_seconds(pixels: int | None) -> int:
    """A GPU loan for translating a picture of `pixels` (None: not known yet): moving the model to
    the GPU and the first CUDA work take seconds; the pass itself tens of milliseconds per megapixel."""
    megapixels = (pixels or 12_000_000) / 1e6
    return int(min(MAX_SECONDS, 10 + 2 * megapixels))


def video_seconds(work_pixels: int | None) -> int:
    """A GPU loan for a clip of `work_pixels` (frames × pixels per frame; None: not known): decoding,
    two passes and encoding, at a cautious 10 MP of frames a second."""
    megapixels = (work_pixels or 60_000_000) / 1e6
    return int(min(MAX_SECONDS, 15 + megapixels / 10))


def training_seconds(steps: int, crop_size: int, seconds_per_step: float | None = None) -> int:
    """A GPU loan for `steps` training steps on `crop_size`² crops: the measured time per step where
    there is one (the loan before), else a guess that scales with the pixels."""
    per_step = seconds_per_step or GUESSED_STEP_SECONDS * (crop_size / 256) ** 2
    return int(min(MAX_SECONDS, LOAN_START_SECONDS + steps * per_step * 1.25 + 1))


def steps_per_loan(crop_size: int, seconds_per_step: float | None = None) -> int:
    """How many steps fit one loan of `MAX_SECONDS` (`training_seconds`), at least one."""
    per_step = seconds_per_step or GUESSED_STEP_SECONDS * (crop_size / 256) ** 2
    return max(1, int((MAX_SECONDS - LOAN_START_SECONDS - 1) / (per_step * 1.25)))


def _loan_seconds(config, data_a, data_b, out, resume, stop, owner, device, steps, seconds_per_step):
    return training_seconds(steps, config.crop_size, seconds_per_step)


def _train_loan(config, data_a, data_b, out, resume, stop, owner, device, steps, seconds_per_step):
    """One loan's steps (`train(..., pause_after=steps)`); `seconds_per_step` only sizes the loan."""
    yield from train(config, data_a, data_b, out, resume=resume, stop=stop, owner=owner, device=device,
                     pause_after=steps)


def training_runner() -> Callable[..., Iterator[Event]]:
    """`training.loop.train` as the app calls it: `train` itself off ZeroGPU; on ZeroGPU,
    `train_in_loans` with its loan under `spaces.GPU`, decorated now (once, at start-up)."""
    if not on_zerogpu():
        return train
    return functools.partial(train_in_loans, on_gpu(_train_loan, _loan_seconds))


def train_in_loans(loan: Callable[..., Iterator[Event]], config: TrainConfig, data_a, data_b, out: Path | str, *,
                   resume: bool = False, stop=None, owner: str | None = None, device: str = "cpu") -> Iterator[Event]:
    """`train`'s events for a whole run, in one GPU `loan` (`_train_loan` under `spaces.GPU`) after
    another, each resuming the state the last one saved (the same steps and losses as one call: the
    schedule is the whole run's), sized from the speed the last loan measured; the caller sees one
    `Started` and one `Finished`. `stop` must reach another process (`training.StopFlag`); closing
    this generator ends the loan's call, which saves (`spaces` closes the forked generator at its
    next event)."""
    seconds_per_step, first = None, True
    while True:
        steps = steps_per_loan(config.crop_size, seconds_per_step)
        paused = None
        for event in loan(config, data_a, data_b, out, resume, stop, owner, device, steps, seconds_per_step):
            if isinstance(event, StepDone):
                seconds_per_step = event.seconds_per_step or seconds_per_step
            if isinstance(event, Started) and not first:
                continue  # the same run goes on
            if isinstance(event, Finished) and event.paused:
                paused = event
                continue
            yield event
        if paused is None:
            return
        decided = RunFolder(out).read_record().config  # as the first loan decided its "auto" settings
        config = decided.replace(steps=config.steps, epochs=config.epochs)
        resume, first = True, False
