"""The optional compiled path: never blocks a request, falls back to eager when compiling fails."""

import threading

import pytest
import torch

from cyclegan_core.engine import compiled
from cyclegan_core.engine.compiled import WindowCompiler, compile_mode, should_compile
from cyclegan_core.engine.streaming import WINDOW_FUNCTIONS, translate_streamed


class GatedCompile:
    """Stands in for torch.compile: 'compiling' waits for a gate, compiled functions are counted."""

    def __init__(self):
        self.gate = threading.Event()
        self.compiled_calls = 0

    def __call__(self, function, **options):
        def compiled(*args):
            self.gate.wait(10)
            self.compiled_calls += 1
            return function(*args)
        return compiled


def test_requests_run_eagerly_until_their_shape_is_compiled(tiny_model, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "0")  # the streamed path, whose windows are compiled
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "onednn")  # (the Winograd kernel's residual convs run eagerly)
    fake = GatedCompile()
    monkeypatch.setattr(compiled.torch, "compile", fake)
    compiler = WindowCompiler()
    tiny_model.compiler = compiler
    x = torch.rand(1, 3, 40, 40) * 2 - 1
    expected = translate_streamed(tiny_model.G_AB, x, "fp32")
    # Compiling is stuck behind the gate, yet the request completes, eagerly and correctly.
    first = tiny_model.translate_tensor(x, "AtoB", "fp32")
    torch.testing.assert_close(first, expected)
    assert fake.compiled_calls == 0 and "compiling" in compiler.state
    fake.gate.set()
    assert compiler.wait(10)
    warm_up_calls = fake.compiled_calls
    # One compile per signature: enc1, enc2, down, conv3, up (u128), up (u64), head.
    assert warm_up_calls == 7
    second = tiny_model.translate_tensor(x, "AtoB", "fp32")
    torch.testing.assert_close(second, expected)
    assert fake.compiled_calls > warm_up_calls  # now the compiled functions serve the request
    assert compiler.state.startswith("compiled")
    # A new image size is a new window shape: eager again at once, compiled in the background.
    calls = fake.compiled_calls
    tiny_model.translate_tensor(torch.zeros(1, 3, 24, 56), "AtoB", "fp32")
    assert compiler.wait(10) and fake.compiled_calls > calls


def test_compile_failure_keeps_everything_eager(tiny_model, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "0")  # the streamed path, whose windows are compiled
    def broken(function, **options):
        raise RuntimeError("no C++ compiler found")
    monkeypatch.setattr(compiled.torch, "compile", broken)
    compiler = WindowCompiler()
    tiny_model.compiler = compiler
    x = torch.rand(1, 3, 32, 36) * 2 - 1
    expected = translate_streamed(tiny_model.G_AB, x, "fp32")
    torch.testing.assert_close(tiny_model.translate_tensor(x, "AtoB", "fp32"), expected)
    assert compiler.wait(10) is False
    assert "compile failed: RuntimeError: no C++ compiler found" in compiler.state
    torch.testing.assert_close(tiny_model.translate_tensor(x, "AtoB", "fp32"), expected)


def test_real_torch_compile_matches_eager(tmp_path, monkeypatch):
    """One real window function through Inductor, its kernels cached in our own folder."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    compiler = WindowCompiler()
    run = compiler.runner()
    args = (torch.rand(1, 8, 12, 12), torch.rand(8, 8, 3, 3), torch.rand(8))
    eager = WINDOW_FUNCTIONS["conv3"](*args)
    torch.testing.assert_close(run("conv3", args), eager)  # eager while compiling
    assert compiler.wait(300), compiler.state
    torch.testing.assert_close(run("conv3", args), eager, atol=1e-5, rtol=1e-5)
    assert compiler.compiled_count == 1 and any((tmp_path / "cache").iterdir())


def test_compile_modes(monkeypatch):
    monkeypatch.delenv("CYCLEGAN_COMPILE", raising=False)
    assert compile_mode() == "auto"
    assert not should_compile(torch.device("cpu")) and should_compile(torch.device("cuda"))
    monkeypatch.setenv("CYCLEGAN_COMPILE", "on")
    assert should_compile(torch.device("cpu"))
    monkeypatch.setenv("CYCLEGAN_COMPILE", "off")
    assert not should_compile(torch.device("cuda"))
    monkeypatch.setenv("CYCLEGAN_COMPILE", "sometimes")
    with pytest.raises(ValueError, match="CYCLEGAN_COMPILE='sometimes'"):
        compile_mode()
