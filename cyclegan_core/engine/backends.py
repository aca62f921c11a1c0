"""Other runtimes as translation backends: OpenVINO and onnxruntime run a whole-image pass of the
generator written as ONNX (`onnx_graph.py`) on a CPU.

Measured side by side in one process (`benchmarks/translate_speed.py`, benchmarks/README.md):
where the CPU has native bf16, OpenVINO's bf16 pass ran 1.3× (AMD Zen 4, AVX512-BF16) to 2× (Intel
Xeon with AMX) as fast as our streamed bf16 path; in fp32 (CPUs without native bf16, or
`precision="fp32"`) our Winograd kernel was ahead of both runtimes' fp32. So `auto` (the default)
takes OpenVINO for bf16 on a CPU when it is installed and its whole pass fits the memory budget
(`translation.whole_pass_budget`), and the torch paths everywhere else; larger images keep our exact
streamed path. The decision follows the CPU's capabilities and the size, never a timing, so every
process on one machine computes the same pixels. `CYCLEGAN_BACKEND=torch|openvino|onnxruntime`
forces one; a forced runtime that is not installed falls back to torch with one line in the log.

A runtime's compiled model is kept per generator (weakly: it goes with the generator) and per set
of weights and precision; new weights (a fine-tuning step) build a new one, which takes about a
second (`warm_up` builds a loaded model's ahead of its first request). It always runs on all usable
CPUs, whatever this thread's share (`runtime.CoreShare`): a runtime's bf16 sums are split by thread,
so a different team would give pixels a level apart, and a translation in the app beside a training
run must give what the CLI gives. A pass that reports progress runs asynchronously, so that progress
can be reported (an estimate from the previous pass's speed) and a Cancel stops it within a few
milliseconds.

`run_shared` runs the live graph (`onnx_graph`, `live=True`) instead: every InstanceNorm normalises
with given statistics (a shot's, `shots.translate_with_statistics`) rather than the frame's own, so a
video with shot statistics gets the pictures' runtime and precision. Its statistics are always given,
so it is the live graph without the image's own (`own_statistics=False`: ≈20 % faster), compiled
from the same fp32 graph writer with the same precision hint, and kept beside the ordinary model of
the same weights (a separate entry: another program).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from cyclegan_core.engine.onnx_graph import INPUT, INPUT_SHARED, INPUT_USE_SHARED, generator_graph, statistics_length
from cyclegan_core.engine.runtime import usable_cpus

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
RUNTIMES = ("openvino", "onnxruntime")
# Peak memory of one whole pass per input pixel at ngf 64 (measured, benchmarks/README.md).
PASS_BYTES = {("openvino", "bf16"): 520, ("openvino", "fp32"): 1000, ("onnxruntime", "fp32"): 1100}
POLL_SECONDS = 0.05  # how often a running pass reports progress and looks for a Cancel
# An OpenVINO model keeps its last pass's intermediate buffers (≈0.45 GB at 1024², at most what a whole
# pass may take: `translation.whole_pass_budget`) for the next one; allocating them again cost ≈15 % of a
# 1024² pass. Only the model that ran last keeps them (a pass of another model, or a large image going to
# the streamed path, has the others give them back), and only until it has been idle this long.
IDLE_RELEASE_SECONDS = 600.0
SECONDS_PER_PIXEL_GUESS = 1e-6  # progress estimate before a compiled model has run once


def configured_backend() -> str:
    """`CYCLEGAN_BACKEND`: `auto` (the default), `torch`, `openvino` or `onnxruntime`."""
    backend = os.environ.get("CYCLEGAN_BACKEND", "auto").strip().lower() or "auto"
    if backend not in BACKENDS:
        raise ValueError(f"CYCLEGAN_BACKEND={backend!r}; expected one of {', '.join(BACKENDS)}")
    return backend


def installed(runtime: str) -> bool:
    return importlib.util.find_spec(runtime) is not None


@functools.cache
def say_missing(runtime: str) -> None:
    """The one log line (once per runtime and process) for a forced runtime that is not installed."""
    log.warning("CYCLEGAN_BACKEND=%s, but %s is not installed: translating with torch "
                "(pip install -r requirements.txt installs it)", runtime, runtime)


def runtime_for(precision: str, device: torch.device) -> tuple[str, str] | None:
    """(runtime, precision it runs) for a whole pass in the resolved `precision` on `device`, or
    None for the torch paths. See the module docstring for the rule."""
    if device.type != "cpu":
        return None
    backend = configured_backend()
    if backend == "torch":
        return None
    if backend == "auto":
        return ("openvino", "bf16") if precision == "bf16" and installed("openvino") else None
    if not installed(backend):
        say_missing(backend)
        return None
    if backend == "onnxruntime":
        return "onnxruntime", "fp32"  # its CPU kernels compute in fp32
    return "openvino", "bf16" if precision == "bf16" else "fp32"


def pass_bytes(runtime: str, precision: str, pixels: int, ngf: int) -> float:
    return pixels * PASS_BYTES[(runtime, precision)] * ngf / 64


def run(runtime: str, generator: nn.Module, x: torch.Tensor, precision: str,
        progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """`generator` on the 1×3×H×W image `x` with `runtime` in `precision` (as `runtime_for` gave);
    float32 out, same size. The graph pads and crops itself (`onnx_graph`)."""
    compiled = _compiled(generator, runtime, precision, usable_cpus())
    release_idle_memory(keep=compiled)  # only the model that runs keeps its buffers
    image = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
    return torch.from_numpy(compiled.run(image, progress))


def run_shared(runtime: str, generator: nn.Module, x: torch.Tensor, statistics: list, precision: str,
               progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """`run` with every InstanceNorm normalising by `statistics` (`shots.Statistics`: each norm's
    1×C×1×1 mean and variance, in module order) instead of the image's own: the live graph with
    `use_shared` = 1. Float32 out, same size."""
    compiled = _compiled(generator, runtime, precision, usable_cpus(), live=True)
    release_idle_memory(keep=compiled)
    image = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
    return torch.from_numpy(compiled.run(image, progress, shared=flat_statistics(generator, statistics)))


def flat_statistics(generator: nn.Module, statistics: list) -> np.ndarray:
    """`shots.Statistics` in the live graph's layout: for each norm in module order, its C means
    then its C variances (float32 [N], `onnx_graph.statistics_length`)."""
    flat = np.concatenate([t.detach().to("cpu", torch.float32).reshape(-1).numpy()
                           for mean_var in statistics for t in mean_var]) if statistics else np.zeros(0, np.float32)
    if flat.size != statistics_length(generator):
        raise ValueError(f"{flat.size} statistics for a generator whose norms take {statistics_length(generator)}")
    return np.ascontiguousarray(flat, dtype=np.float32)


class CompiledPass:
    """One runtime's compiled generator. `run` reports progress while the pass runs; a progress
    callback that raises stops the pass (OpenVINO: cancelled; onnxruntime: terminated)."""

    def __init__(self, runtime: str, model_bytes: bytes, precision: str, threads: int):
        self.runtime = runtime
        self.seconds_per_pixel = SECONDS_PER_PIXEL_GUESS
        self._lock = threading.Lock()  # one pass at a time; the idle release waits for it
        self._release_timer: threading.Timer | None = None
        self.holding = False  # whether it keeps a pass's buffers now
        self.request = None  # OpenVINO's infer request, made at the first pass
        if runtime == "openvino":
            import openvino
            core = openvino.Core()
            self.model = core.compile_model(core.read_model(model_bytes, b""), "CPU", {
                "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
                "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"})
            self.inputs = {name for port in self.model.inputs for name in port.get_names()}
        else:
            import onnxruntime
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            options.enable_cpu_mem_arena = False  # give a pass's memory back when it ends
            self.model = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
            self.inputs = {port.name for port in self.model.get_inputs()}

    def run(self, image: np.ndarray, progress: Callable[[float], None] | None,
            shared: np.ndarray | None = None) -> np.ndarray:
        """The translated image; `shared`: the live graph's statistics to normalise with (with
        `use_shared` = 1 where the graph takes it; the model must be a live one)."""
        pixels = image.shape[-2] * image.shape[-1]
        inputs = {INPUT: image}
        if shared is not None:
            inputs[INPUT_SHARED] = shared
            if INPUT_USE_SHARED in self.inputs:
                inputs[INPUT_USE_SHARED] = np.ones(1, np.float32)
        with self._lock:
            if self._release_timer is not None:
                self._release_timer.cancel()
            started = time.perf_counter()
            try:
                if self.runtime == "openvino":
                    result = self._run_openvino(inputs, progress, pixels, started)
                else:
                    result = self._run_onnxruntime(inputs, progress, pixels, started)
            finally:
                self.holding = self.runtime == "openvino"
                if self.holding:
                    self._release_timer = threading.Timer(IDLE_RELEASE_SECONDS, self.release_memory)
                    self._release_timer.daemon = True
                    self._release_timer.start()
            self.seconds_per_pixel = (time.perf_counter() - started) / pixels
        if progress is not None:
            progress(1.0)
        return result

    def release_memory(self, wait: bool = True) -> None:
        """Give back the intermediate buffers OpenVINO keeps between passes (it allocates them again);
        with `wait=False`, only if no pass is running now."""
        if self.runtime != "openvino" or not self.holding or not self._lock.acquire(blocking=wait):
            return
        try:
            self.model.release_memory()
            self.holding = False
        finally:
            self._lock.release()

    def _estimate(self, pixels: int, started: float) -> float:
        return min(0.95, (time.perf_counter() - started) / (self.seconds_per_pixel * pixels))

    def _run_openvino(self, inputs, progress, pixels, started) -> np.ndarray:
        if self.request is None:  # one request, reused: a new one would allocate its buffers again
            self.request = self.model.create_infer_request()
        request = self.request
        if progress is None:  # nothing to report and no one to cancel: a plain call
            return request.infer(inputs, share_inputs=True)[0].copy()
        # Shared: `inputs` stay alive here. (With a copied input, polling with `wait_for` returned
        # zeros in OpenVINO 2026.4; tests/test_backends.py compares every pass with ours.)
        request.start_async(inputs, share_inputs=True)
        try:
            while not request.wait_for(int(POLL_SECONDS * 1000)):
                if progress is not None:
                    progress(self._estimate(pixels, started))
        except BaseException:
            request.cancel()
            try:
                request.wait()  # returns as soon as the pass has stopped (it raises: cancelled)
            except RuntimeError:
                pass
            raise
        return request.get_output_tensor(0).data.copy()

    def _run_onnxruntime(self, inputs, progress, pixels, started) -> np.ndarray:
        import onnxruntime
        options = onnxruntime.RunOptions()
        outcome: dict = {}

        def work():
            try:
                outcome["result"] = self.model.run(None, inputs, options)[0]
            except BaseException as error:  # noqa: BLE001 — handed to the caller's thread
                outcome["error"] = error
        worker = threading.Thread(target=work, name="cyclegan-onnxruntime", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(POLL_SECONDS)
                if worker.is_alive() and progress is not None:
                    progress(self._estimate(pixels, started))
        except BaseException:
            options.terminate = True
            worker.join()
            raise
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # generator → {key: CompiledPass}
_LOCK = threading.Lock()
_BUILD = threading.Lock()  # one build at a time: a request waits for a warm-up building its model, never builds twice
KEEP = 4  # compiled models kept per generator (precisions × threads × ordinary/live; older weights are dropped)


def release_idle_memory(keep: CompiledPass | None = None) -> None:
    """Every idle runtime model but `keep` gives back its pass buffers now (before another model's pass,
    or a large streamed translation, which needs the memory). Cheap for a model holding none."""
    with _LOCK:
        compiled = [c for kept in _CACHE.values() for c in kept.values() if c is not keep]
    for one in compiled:
        one.release_memory(wait=False)


def weights_key(generator: nn.Module) -> tuple | None:
    """Changes whenever a weight does (in-place updates bump a tensor's version); None where
    versions are not tracked (tensors made in inference mode): then nothing is reused."""
    try:
        return tuple((weight.data_ptr(), weight._version) for weight in generator.parameters())
    except RuntimeError:
        return None


def warm_up(runtime: str, generator: nn.Module, precision: str) -> None:
    """Build (and keep) the compiled model that `run` will use, so that the first request finds it
    ready: writing the graph and compiling it took ≈1 s for the paper's generator (the first pass
    itself costs no more than the next). Called off the request path (`CycleGAN.warm_up`)."""
    _compiled(generator, runtime, precision, usable_cpus())


def _compiled(generator: nn.Module, runtime: str, precision: str, threads: int, live: bool = False) -> CompiledPass:
    """The compiled model for these weights, runtime, precision, thread count and graph (`live`: the
    one taking shared statistics), built once and kept (`KEEP`)."""
    weights = weights_key(generator)
    key = (weights, runtime, precision, threads, live)
    with _BUILD:
        with _LOCK:
            kept = _CACHE.setdefault(generator, {})
            found = kept.get(key) if weights is not None else None
        if found is not None:
            return found
        # fp32: the runtime lowers precision itself; a live graph here is always given its statistics
        graph = generator_graph(generator, "fp32", live=live, own_statistics=False).SerializeToString()
        compiled = CompiledPass(runtime, graph, precision, threads)
        if weights is not None:
            with _LOCK:
                for old in [k for k in kept if k[0] != weights]:  # new weights: the old ones will not return
                    del kept[old]
                kept[key] = compiled
                while len(kept) > KEEP:
                    del kept[next(iter(kept))]
        return compiled
