"""ZeroGPU (demo/zerogpu.py): off ZeroGPU, with `spaces` installed, the app is as before and touches no
CUDA; the functions that run on a GPU there carry a duration estimate; on ZeroGPU they go through
`spaces.GPU` with that estimate."""

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
