"""ZeroGPU (demo/zerogpu.py): off ZeroGPU, with `spaces` installed, the app is as before and touches no
CUDA; the functions that run on a GPU there carry a duration estimate; on ZeroGPU they go through
`spaces.GPU` with that estimate."""

import importlib.machinery
import subprocess
import sys
import types

import pytest

from conftest import ROOT
from demo import zerogpu


def test_importing_the_app_initialises_no_cuda(tmp_path):
    """`python app.py`'s import (the Space's entry point builds the whole page), with CUDA's lazy
    initialisation made to fail: nothing may start a CUDA context in the main process."""
    script = (
        "import sys, torch\n"
        "def refused(*a, **k): raise RuntimeError('CUDA initialised at import')\n"
        "torch.cuda._lazy_init = refused\n"
        "import spaces\n"
        "import app\n"
        "assert not torch.cuda.is_initialized()\n"
        "print('events', len(app.demo.fns))\n")
    env = {"CYCLEGAN_WEIGHTS_DIR": str(tmp_path / "weights"), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_DISABLE_TELEMETRY": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=180,
                            env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "events" in result.stdout


def test_the_translation_events_carry_a_gpu_estimate_from_the_picture(launch_app, tmp_path):
    from PIL import Image

    from demo import build_demo
    demo = build_demo()
    estimated = {fn.name: fn.fn for fn in demo.fns.values() if hasattr(fn.fn, "gpu_duration")}
    wrapped = {fn.name: fn.fn for fn in demo.fns.values()
               if hasattr(getattr(fn.fn, "__wrapped__", None), "gpu_duration")}
    names = set(estimated) | set(wrapped)
    assert {"translate_on_page", "translate"} <= names, names
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.new("RGB", (256, 256)).save(small)
    Image.new("RGB", (4000, 3000)).save(large)
    duration = next(iter(estimated.values())).gpu_duration
    assert 0 < duration({"path": str(small)}, "task", [], None) < duration({"path": str(large)}, "task", [], None)
    assert duration({"path": str(large)}, "task", [], None) <= zerogpu.MAX_SECONDS
    assert duration(None, "task", [], None) > 0  # no picture yet: still an estimate


def test_on_zerogpu_the_call_goes_through_spaces_gpu_with_its_estimate(monkeypatch):
    asked = []
    fake = types.ModuleType("spaces")

    def gpu(task, duration=None):
        asked.append(duration)
        return lambda *args, **kwargs: ("on the GPU", task(*args, **kwargs))
    fake.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", fake)

    def estimate(x):
        return 7

    def work(x):
        return x * 2
    assert zerogpu.on_gpu(work, estimate)(3) == 6  # off ZeroGPU: the function itself
    assert asked == []
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setattr(zerogpu.importlib.util, "find_spec", lambda name: object())
    assert zerogpu.on_zerogpu()
    call = zerogpu.on_gpu(work, estimate)
    assert call(3) == ("on the GPU", 6) and asked == [estimate] and call.gpu_duration is estimate

    def stages(x):
        yield x
        yield x + 1
    fake.GPU = lambda task, duration=None: task  # a generator stays a generator for Gradio
    import inspect
    streamed = zerogpu.on_gpu(stages, estimate)
    assert inspect.isgeneratorfunction(streamed) and list(streamed(1)) == [1, 2]


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_off_zerogpu_whatever_the_setting_says(monkeypatch, value):
    monkeypatch.setenv("SPACES_ZERO_GPU", value)
    assert not zerogpu.on_zerogpu()


class ForkingGPU:
    """Stands in for `spaces` on ZeroGPU, as it runs a generator function: each call goes to a forked
    process (its arguments pickled there, its yields pickled back); closing the caller's generator sets
    an event the child checks before passing on its next yield, and the child then closes its own."""

    def __init__(self):
        self.durations, self.pids, self.closed = [], [], []

    def GPU(self, task, duration=None):
        import inspect
        import multiprocessing
        import os
        import pickle
        context = multiprocessing.get_context("fork")
        generates = inspect.isgeneratorfunction(task)
        if not generates:  # a function's one result comes back as one yield
            function = task

            def task(*a, **k):
                yield function(*a, **k)

        def call(*args, **kwargs):
            self.durations.append(duration(*args, **kwargs))
            results, stop = context.Queue(), context.Event()
            sent = pickle.dumps((args, kwargs))

            def child():
                import torch
                torch.set_num_threads(1)  # this test process has run thread teams (the app's would not)
                a, k = pickle.loads(sent)
                generator = task(*a, **k)
                try:
                    for item in generator:
                        if stop.is_set():
                            generator.close()  # its `finally:` runs here, in the child
                            results.put(("closed", os.getpid()))
                            break
                        results.put(("yield", item))
                except Exception as e:  # noqa: BLE001 — sent back as spaces does
                    results.put(("error", f"{type(e).__name__}: {e}"))
                results.put(("end", os.getpid()))
                results.close()
                results.join_thread()

            process = context.Process(target=child, daemon=True)
            process.start()
            try:
                while True:
                    kind, value = results.get(timeout=120)
                    if kind == "end":
                        self.pids.append(value)
                        return
                    if kind == "error":
                        raise RuntimeError(value)
                    try:
                        yield value
                    except GeneratorExit:
                        stop.set()
                        raise
            finally:
                process.join(timeout=120)
                while not results.empty():
                    kind, value = results.get()
                    if kind == "closed":
                        self.closed.append(value)

        def returning(*args, **kwargs):
            return next(iter(call(*args, **kwargs)))
        return call if generates else returning


@pytest.fixture
def forked_zerogpu(monkeypatch):
    """The app as on ZeroGPU (`spaces` is installed here; its setting on), with each GPU call forked."""
    gpu = ForkingGPU()
    fake = types.ModuleType("spaces")
    fake.GPU = gpu.GPU
    fake.__spec__ = importlib.machinery.ModuleSpec("spaces", None)
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setattr(zerogpu, "GPU_DEVICE", "cpu")  # this machine's "GPU"
    assert zerogpu.on_zerogpu()
    return gpu


def test_on_zerogpu_a_run_trains_in_loans_that_resume_exactly(forked_zerogpu, uploads, tmp_path, monkeypatch):
    """A run longer than one loan: each loan is a forked call that resumes the state the last one saved;
    the caller sees one run (one Started, every step once, one Finished) with the losses of one call."""
    import os

    from cyclegan_core import TrainConfig
    from cyclegan_core.training.loop import Finished, Started, StepDone, train
    monkeypatch.setattr(zerogpu, "steps_per_loan", lambda crop, seconds=None: 3)
    config = TrainConfig(steps=7, crop_size=32, load_size=36, ngf=8, n_blocks=1, ndf=8, precision="fp32",
                         preview_every=4, checkpoint_every=50)
    events = list(zerogpu.training_runner()(config, uploads["a"], uploads["b"], tmp_path / "loaned"))
    assert len(forked_zerogpu.pids) == 3 and os.getpid() not in forked_zerogpu.pids  # 3 + 3 + 1 steps
    assert all(0 < d <= zerogpu.MAX_SECONDS for d in forked_zerogpu.durations)
    assert [type(e) for e in events].count(Started) == 1 and [type(e) for e in events].count(Finished) == 1
    assert events[-1].step == 7 and not events[-1].stopped and not events[-1].paused
    loaned = [e.losses for e in events if isinstance(e, StepDone)]
    assert [e.step for e in events if isinstance(e, StepDone)] == list(range(1, 8))
    monkeypatch.setenv("SPACES_ZERO_GPU", "false")
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the loans: the same reductions
    try:
        whole = [e.losses for e in train(config, uploads["a"], uploads["b"], tmp_path / "whole")
                 if isinstance(e, StepDone)]
    finally:
        torch.set_num_threads(threads)
    assert loaned == whole  # the same steps as one uninterrupted run, to the last bit


def test_on_zerogpu_stop_reaches_the_forked_run_and_keeps_it(forked_zerogpu, uploads, offline_sandbox):
    """The Train tab's Stop sets a flag in the main process; the steps run in a forked child."""
    from demo.model_cache import ModelCache
    from demo.train_tab import OUTPUTS, TrainHandlers
    from demo.training import TrainingSlot
    handlers = TrainHandlers(ModelCache(), TrainingSlot())
    status = OUTPUTS.index("status")
    stream = handlers.start(uploads["a"], uploads["b"], "red", "blue", "", 1000, 32, "fp32", 10, 0.5, "far", [],
                            "alice", progress=lambda *a, **k: None)
    texts = []
    for output in stream:
        if isinstance(output[status], str):
            texts.append(output[status])
            if output[status].startswith("Step **") and len(texts) < 50:
                assert handlers.stop("alice") == "Stopping far after the current step…"
    assert texts[-1].startswith("Stopped at step **"), texts[-3:]
    run = handlers.store.run("far")
    assert run.is_resumable() and 0 < run.steps_done() < 1000
    assert forked_zerogpu.pids  # the steps ran in a forked process
    assert not handlers.slot.stop.path.exists()


def test_on_zerogpu_a_translation_shows_progress_and_cancel_closes_the_forked_pass(forked_zerogpu, tiny_model,
                                                                                   tmp_path):
    """The page's translation as a forked GPU call: its progress box reaches the page, the result is the
    CPU's, and closing the page's generator (Cancel) closes the child's at its next yield (its `finally:`
    cancels the pass)."""
    import numpy as np
    from PIL import Image

    from demo.model_cache import ModelCache
    from demo.translate_tab import PAGE_OUTPUTS, TranslateHandlers
    handlers = TranslateHandlers(ModelCache(loader=lambda source: tiny_model), poll_seconds=0.01)
    on_page = zerogpu.on_gpu(handlers.translate_on_page, handlers.gpu_seconds)
    picture = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (900, 1200, 3), dtype=np.uint8)).save(picture)
    outputs = list(on_page({"path": str(picture)}, "someone/fruit:BtoA", [], None))
    assert len(forked_zerogpu.pids) == 1 and forked_zerogpu.durations[0] == zerogpu.translation_seconds(1200 * 900)
    boxes = [str(o[PAGE_OUTPUTS.index("progress")]) for o in outputs]
    assert any("Full resolution (1200×900)" in box for box in boxes)
    result = outputs[-1][PAGE_OUTPUTS.index("image")]["value"]
    assert np.array_equal(np.asarray(result), np.asarray(tiny_model.translate(Image.open(picture), "BtoA")))
    stream = on_page({"path": str(picture)}, "someone/fruit:BtoA", [], None)
    next(stream)
    stream.close()  # Cancel
    assert len(forked_zerogpu.closed) == 1 and len(forked_zerogpu.pids) == 1  # closed, not finished
