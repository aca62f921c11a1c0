"""OpenVINO and onnxruntime as translation backends: the same pixels as ours (fp32) or within the
bf16 bound, progress and Cancel, new weights recompiled, CYCLEGAN_BACKEND, a missing package."""

import logging
import os
import time

import numpy as np
import pytest
import torch

from cyclegan_core.engine import backends, translation
from cyclegan_core.engine.translation import choose_path, translate_tensor, translate_whole


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) * 127.5).pow(2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


@pytest.fixture
def image():
    torch.manual_seed(5)
    return torch.rand(1, 3, 451, 300) * 2 - 1  # an odd size: the graph pads and crops as we do


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_a_forced_runtime_gives_our_fp32_pixels_both_ways(tiny_model, image, monkeypatch, runtime):
    monkeypatch.setenv("CYCLEGAN_BACKEND", runtime)
    for direction in ("AtoB", "BtoA"):
        generator = tiny_model.generator(direction)
        assert choose_path(451 * 300, 8, "fp32", torch.device("cpu")).backend == runtime
        ours = translate_whole(generator, image, "fp32")
        theirs = tiny_model.translate_tensor(image, direction, "fp32")
        assert theirs.shape == image.shape and theirs.dtype == torch.float32
        assert psnr(theirs, ours) >= 45, direction


def test_openvino_bf16_stays_within_the_bf16_bound_and_ignores_the_callers_thread_share(tiny_model, image,
                                                                                       monkeypatch):
    """A runtime's bf16 sums split by thread round differently (a fifth of these values a level apart
    between one and two threads), so it always runs on every usable CPU: the app's translation beside a
    training run (one thread of two) gives the CLI's pixels."""
    monkeypatch.setenv("CYCLEGAN_BACKEND", "openvino")
    monkeypatch.setattr(translation, "resolve_precision", lambda requested, device: "bf16")
    reference = translate_whole(tiny_model.G_AB, image, "fp32")
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            results.append(translate_tensor(tiny_model.G_AB, image, "auto"))
    finally:
        torch.set_num_threads(threads)
    assert all(psnr(r, reference) >= 40 for r in results)
    assert torch.equal(results[0], results[1])


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_progress_rises_to_one_and_raising_in_it_stops_the_pass(tiny_config, monkeypatch, runtime):
    from cyclegan_core import CycleGAN
    monkeypatch.setenv("CYCLEGAN_BACKEND", runtime)
    monkeypatch.setattr(backends, "POLL_SECONDS", 0.005)
    torch.manual_seed(0)
    model = CycleGAN(tiny_config.replace(ngf=32, n_blocks=6))  # a pass long enough to report during it
    x = torch.rand(1, 3, 768, 768) * 2 - 1
    seen = []
    model.translate_tensor(x, "AtoB", "fp32", progress=seen.append)
    assert len(seen) >= 3 and seen == sorted(seen) and 0 < seen[0] < 1 and seen[-1] == 1.0

    class Stop(Exception):
        pass

    def stop(fraction):
        raise Stop

    started = time.perf_counter()
    with pytest.raises(Stop):
        model.translate_tensor(x, "AtoB", "fp32", progress=stop)
    assert time.perf_counter() - started < 0.8 * full_seconds(model, x)
    assert psnr(model.translate_tensor(x, "AtoB", "fp32"), translate_whole(model.G_AB, x, "fp32")) >= 45  # still works


def full_seconds(model, x) -> float:
    started = time.perf_counter()
    model.translate_tensor(x, "AtoB", "fp32")
    return time.perf_counter() - started


def test_new_weights_are_compiled_again(tiny_model, image, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_BACKEND", "openvino")
    before = tiny_model.translate_tensor(image, "AtoB", "fp32")
    with torch.no_grad():  # what an optimiser step or load_state_dict does: in place
        for p in tiny_model.G_AB.parameters():
            p.mul_(1.1)
    after = tiny_model.translate_tensor(image, "AtoB", "fp32")
    assert psnr(after, before) < 40
    assert psnr(after, translate_whole(tiny_model.G_AB, image, "fp32")) >= 45


def test_auto_uses_openvino_for_bf16_only_and_torch_can_be_forced(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv("CYCLEGAN_BACKEND", raising=False)
    monkeypatch.setattr(backends, "installed", lambda runtime: True)
    assert backends.runtime_for("bf16", cpu) == ("openvino", "bf16")
    assert backends.runtime_for("fp32", cpu) is None  # our Winograd fp32 was faster than both runtimes
    assert backends.runtime_for("bf16", torch.device("cuda")) is None
    monkeypatch.setenv("CYCLEGAN_BACKEND", "torch")
    assert backends.runtime_for("bf16", cpu) is None
    monkeypatch.setenv("CYCLEGAN_BACKEND", "onnxruntime")
    assert backends.runtime_for("bf16", cpu) == ("onnxruntime", "fp32")
    monkeypatch.setenv("CYCLEGAN_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match="CYCLEGAN_BACKEND='tensorflow'; expected one of auto, torch, openvino"):
        backends.runtime_for("bf16", cpu)


def test_a_forced_runtime_that_is_not_installed_falls_back_to_torch_with_one_line(tiny_model, image, monkeypatch,
                                                                                   caplog):
    monkeypatch.setenv("CYCLEGAN_BACKEND", "openvino")
    monkeypatch.setattr(backends, "installed", lambda runtime: False)
    backends.say_missing.cache_clear()
    with caplog.at_level(logging.WARNING, logger="cyclegan_core.engine.backends"):
        first = tiny_model.translate_tensor(image, "AtoB", "fp32")
        tiny_model.translate_tensor(image, "AtoB", "fp32")
    lines = [r.getMessage() for r in caplog.records if r.name == "cyclegan_core.engine.backends"]
    assert len(lines) == 1 and "openvino is not installed: translating with torch" in lines[0]
    assert torch.equal(first, translate_tensor(tiny_model.G_AB, image, "fp32"))
    backends.say_missing.cache_clear()


def test_an_idle_openvino_model_gives_its_pass_memory_back_and_still_runs(tiny_model, image, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_BACKEND", "openvino")
    monkeypatch.setattr(backends, "IDLE_RELEASE_SECONDS", 0.1)
    backends.release_idle_memory()  # models of earlier tests hold nothing now
    released = []
    original = backends.CompiledPass.release_memory

    def spy(self, **options):
        if self.holding:
            released.append(self)
        original(self, **options)
    monkeypatch.setattr(backends.CompiledPass, "release_memory", spy)
    for _ in range(2):  # back to back: the first pass's release is called off by the second
        tiny_model.translate_tensor(image, "AtoB", "fp32")
    assert released == []
    time.sleep(0.5)
    assert len(released) == 1  # once, after the idle time
    reference = translate_whole(tiny_model.G_AB, image, "fp32")
    assert psnr(tiny_model.translate_tensor(image, "AtoB", "fp32"), reference) >= 45
    other = translate_tensor(tiny_model.G_BA, image, "fp32")  # another model's pass: the first gives its buffers back
    assert len(released) == 2 and psnr(other, translate_whole(tiny_model.G_BA, image, "fp32")) >= 45


class CountedBuilds:
    """`backends.CompiledPass` counting the models it builds (per runtime)."""

    def __init__(self, monkeypatch):
        self.built = []
        real = backends.CompiledPass

        def build(runtime, *args):
            self.built.append(runtime)
            time.sleep(0.2)  # a slower build: a request arriving meanwhile must wait for it, not build again
            return real(runtime, *args)
        monkeypatch.setattr(backends, "CompiledPass", build)


def test_a_warmed_up_model_translates_without_building_and_a_request_during_the_build_waits(
        tiny_model, image, monkeypatch):
    monkeypatch.setenv("CYCLEGAN_BACKEND", "openvino")
    builds = CountedBuilds(monkeypatch)
    warming = tiny_model.warm_up("fp32")  # both directions, in the background
    during = tiny_model.translate_tensor(image, "AtoB", "fp32")  # arrives while the first build runs
    warming.join(timeout=60)
    assert not warming.is_alive() and builds.built == ["openvino", "openvino"]  # one per direction, none twice
    after = tiny_model.translate_tensor(image, "BtoA", "fp32")
    assert builds.built == ["openvino", "openvino"]  # BtoA was ready
    assert psnr(during, translate_whole(tiny_model.G_AB, image, "fp32")) >= 45
    assert psnr(after, translate_whole(tiny_model.G_BA, image, "fp32")) >= 45


def test_warm_up_has_nothing_to_build_where_torch_translates(tiny_model, monkeypatch):
    builds = CountedBuilds(monkeypatch)
    monkeypatch.setenv("CYCLEGAN_BACKEND", "torch")
    assert translation.warm_up(tiny_model.G_AB, "bf16") is False
    monkeypatch.setenv("CYCLEGAN_BACKEND", "auto")  # fp32: our Winograd path, whatever the CPU
    assert translation.warm_up(tiny_model.G_AB, "fp32") is False
    tiny_model.warm_up("fp32").join(timeout=60)
    assert builds.built == []


def test_a_process_that_ends_during_a_warm_up_waits_for_it_and_exits_cleanly():
    """Killing a runtime mid-build aborted the process ("terminate called…", exit 134): a server stopped
    right after loading a model, or a test run ending so. The warm-up is waited for: both builds exist
    when the process's exit handlers run, and the exit status is 0."""
    import subprocess
    import sys

    from conftest import ROOT

    script = """if True:
        import atexit
        from cyclegan_core import CycleGAN, ModelConfig
        from cyclegan_core.engine import backends
        atexit.register(lambda: print("built", sum(len(kept) for kept in backends._CACHE.values())))
        model = CycleGAN(ModelConfig(ngf=8, n_blocks=2))
        model.warm_up("fp32")  # and end at once
    """
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CYCLEGAN_BACKEND": "openvino"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["built", "2"]
