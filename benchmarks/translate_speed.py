"""Translation speed and memory: the reference way (eager fp32, whole image in one pass) against our
default path (`model.translate_tensor`, precision "auto": `translation.choose_path` picks, from the
hardware and the size: OpenVINO's whole bf16 pass where the CPU has native bf16 and it fits the
memory budget, bf16 streamed windows with whole-image InstanceNorm statistics above; else fp32 with
the faster convolution kernel measured here, in one whole pass while it fits, streamed above) and
against the runtimes a user could pick instead (the peers: onnxruntime fp32, OpenVINO fp32 and
OpenVINO with its default settings, each running our exported ONNX file as a user would, with the
runtime's defaults), in ONE process, on the paper's 9-block generator (trained weights). Where our
default is another runtime, "torch" is our own torch path for the same image.

For each size: the path taken, seconds/image, images/s, speed-up over the baseline, % of this CPU's
limit (the generator's FLOPs at the measured peak of its own residual convolution, in the precision
and kernel the path uses), peak RSS of the process during our run, PSNR
against the fp32 whole-image output, and a seam metric: mean |error| on the columns where windows
meet ÷ elsewhere (1.00: no seam), against the baseline or, where the eager baseline cannot run (a
whole-image pass needs ≈24 GB at 4096²), against a streamed run on another window grid.

    python benchmarks/translate_speed.py [--sizes 256 1024 4096] [--compile] [--no-peers]

Per size, "fastest peer" compares our default with the fastest peer (target: within 5 %).
"""

from __future__ import annotations

import argparse
import gc
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cyclegan_core import CycleGAN, ModelConfig  # noqa: E402
from cyclegan_core.engine.compiled import WindowCompiler  # noqa: E402
from cyclegan_core.engine.kernels.winograd import conv3x3, transform_weight  # noqa: E402
from cyclegan_core.engine.runtime import (cpu_class, cpu_has_native_bf16, resolve_precision,  # noqa: E402
                                         return_free_memory)
from cyclegan_core.engine.streaming import CORE, spans, storage_for, translate_streamed  # noqa: E402
from cyclegan_core.engine.translation import choose_path, stream_pixels, translate_whole  # noqa: E402
from cyclegan_core.export import to_onnx  # noqa: E402

# Targets on every CPU class, and (second) where the CPU has native bf16.
TARGETS = {256: ("≥ 1.1× baseline, PSNR ≥ 40 dB", "≥ 2.4× baseline"),
           1024: ("≥ 1.3× baseline, PSNR ≥ 40 dB", "≥ 3× baseline"),
           4096: ("≤ 17 × the 1024² time of the same (streamed) path, peak RSS ≤ 2.5 GB, no seam", "≤ 45 s")}


class PeakRSS:
    """Samples this process's resident memory every 5 ms while active; `.peak` in MB."""

    def __init__(self):
        self.peak = 0.0
        self._stop = threading.Event()

    @staticmethod
    def current() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(0.005)

    def __enter__(self):
        self.peak = self.current()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def interleaved(functions: dict, repeats: int, warm_up: bool) -> dict:
    """Runs the functions in turn, `repeats` rounds in a shuffled order, so that a shared machine's
    slow spells hit them alike. Per label: (median seconds, best seconds, last output, peak RSS MB during its
    calls). The median is what a user sees; the best, what the code does when nothing else runs."""
    if not functions:
        return {}
    if warm_up:
        for fn in functions.values():
            fn()
    times = {label: [] for label in functions}
    peaks = dict.fromkeys(functions, 0.0)
    outputs = {}
    # A new order each round: no label always follows the same one (a long eager fp32 pass can slow
    # what comes right after it).
    order, shuffle = list(functions.items()), np.random.default_rng(0)
    for _ in range(repeats):
        for index in shuffle.permutation(len(order)):
            label, fn = order[index]
            with PeakRSS() as rss:
                start = time.perf_counter()
                outputs[label] = fn()
                times[label].append(time.perf_counter() - start)
            peaks[label] = max(peaks[label], rss.peak)
    return {label: (float(np.median(times[label])), min(times[label]), outputs[label], peaks[label])
            for label in functions}


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) * 127.5).pow(2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def generator_flops(size: int, ngf: int = 64, n_blocks: int = 9) -> float:
    """Multiply-adds × 2 of the ResNet generator on a size² image (convolutions only)."""
    full, half, quarter = size * size, (size // 2) ** 2, (size // 4) ** 2
    macs = (full * ngf * 3 * 49 + half * 2 * ngf * ngf * 9 + quarter * 4 * ngf * 2 * ngf * 9
            + n_blocks * 2 * quarter * (4 * ngf) ** 2 * 9
            + quarter * 4 * ngf * 2 * ngf * 9 + half * 2 * ngf * ngf * 9 + full * 3 * ngf * 49)
    return 2 * macs


def peak_conv_gflops(precision: str, kernel: str = "onednn") -> float:
    """The best sustained throughput of a residual-block conv (3×3, 256 ch, 128² output) on this
    machine, in `precision` with `kernel` (Winograd: direct-convolution FLOPs per second)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    x = torch.randn(1, 256, 130, 130, dtype=dtype)
    w = torch.randn(256, 256, 3, 3, dtype=dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    if kernel == "winograd":
        u = transform_weight(w)
        conv = lambda: conv3x3(x, u)  # noqa: E731
    else:
        w = w.contiguous(memory_format=torch.channels_last)
        conv = lambda: F.conv2d(x, w)  # noqa: E731
    flops = 2 * 256 * 256 * 9 * 128 * 128
    best = float("inf")
    with torch.inference_mode():
        for _ in range(40):
            start = time.perf_counter()
            conv()
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


class Peers:
    """The runtimes a user could run our exported ONNX file with, each as it comes (default settings),
    and OpenVINO once more with fp32 asked for. Missing packages are reported and skipped."""

    def __init__(self, model: CycleGAN):
        self.functions, self.notes = {}, []
        path = Path(tempfile.mkdtemp()) / "generator.onnx"
        to_onnx(model, "AtoB", "fp32", path)
        try:
            import onnxruntime
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            self.functions["ort·fp32"] = lambda x: torch.from_numpy(session.run(None, {"image": x.numpy()})[0])
            self.notes.append(f"onnxruntime {onnxruntime.__version__}")
        except ImportError:
            self.notes.append("onnxruntime not installed")
        try:
            import openvino
        except ImportError:
            self.notes.append("openvino not installed")
            return
        core = openvino.Core()
        fp32 = core.compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        self.functions["ov·f32"] = lambda x: torch.from_numpy(fp32({0: x.numpy()})[0].copy())
        wants_bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        if wants_bf16 and not cpu_has_native_bf16():
            # OpenVINO reads the CPU itself: held to an instruction set without bf16 (ONEDNN_MAX_CPU_ISA) it
            # still asks oneDNN for bf16, which is emulated or refused. A CPU of that class has no bf16, and
            # there OpenVINO's default is f32: the ov·f32 row.
            self.notes.append(f"OpenVINO {openvino.__version__} (its default on this class is f32: the ov·f32 row)")
            return
        default = core.compile_model(str(path), "CPU")
        hint = str(default.get_property("INFERENCE_PRECISION_HINT")).lower().replace("<type: '", "").rstrip("'>")
        if hint != "f32":
            self.functions[f"ov·{hint}"] = lambda x: torch.from_numpy(default({0: x.numpy()})[0].copy())
        self.notes.append(f"OpenVINO {openvino.__version__} (its default precision here: {hint})")


def seam_columns(size: int) -> torch.Tensor:
    """Columns where streamed windows meet (every owned span's start but the first), ±2 px."""
    cols = torch.zeros(size, dtype=torch.bool)
    for _, _, own_start, _ in spans(size // 4, CORE, 0)[1:]:
        cols[max(0, own_start * 4 - 2):own_start * 4 + 2] = True
    return cols


def seam_metric(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean |ours − reference| on the columns where our windows meet ÷ elsewhere (1.00: no seam)."""
    cols = seam_columns(ours.shape[-1])
    if not cols.any():
        return float("nan")
    error = (ours - reference).abs().mean(dim=(0, 1))
    return float(error[:, cols].mean() / error[:, ~cols].mean())


def trained_or_random() -> tuple[CycleGAN, str]:
    """A real trained 9-block generator where available (random weights exaggerate bf16 errors),
    else the official architecture at random."""
    import importlib.util
    spec = importlib.util.find_spec("vintagify")
    if spec and spec.submodule_search_locations:
        import tempfile
        from cyclegan_core import convert_official
        path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "G_A2B_epoch33.pth"
        return convert_official(path, None, Path(tempfile.mkdtemp()) / "m"), "trained (vintagify, 9 blocks)"
    torch.manual_seed(0)
    return CycleGAN(ModelConfig()), "random (install requirements-dev.txt for trained weights)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--baseline-max-pixels", type=int, default=2048 * 2048,
                        help="largest image the eager baseline is run on (memory)")
    parser.add_argument("--compile", action="store_true",
                        help="also time the torch.compile'd windows (after compiling them) up to 1024²")
    parser.add_argument("--no-peers", action="store_true", help="leave out onnxruntime and OpenVINO")
    parser.add_argument("--peer-max-pixels", type=int, default=2048 * 2048,
                        help="largest image the peers' whole passes are run on (memory)")
    args = parser.parse_args()
    model, weights = trained_or_random()
    peers = None if args.no_peers else Peers(model)
    auto = resolve_precision("auto", torch.device("cpu"))
    cpu = torch.device("cpu")
    paths = {size: choose_path(size * size, 64, "auto", cpu) for size in args.sizes}
    peaks = {(c.precision, c.kernel): peak_conv_gflops(c.precision, c.kernel) for c in paths.values()}
    print(f"machine: {cpu_class()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; weights: {weights}" + (f"; peers: {', '.join(peers.notes)}" if peers else ""))
    print("default path per size: " + "; ".join(f"{size}²: {c.describe()}" for size, c in paths.items())
          + f"; exact up to {stream_pixels() / 1e6:.1f} MP")
    header = (f"{'size':>6s} {'run':>9s} {'path':>21s} {'s/img':>8s} {'best s':>8s} {'img/s':>7s} {'× base':>7s} "
              f"{'% limit':>8s} {'PSNR dB':>8s} {'seam':>6s} {'peak RSS':>9s}")
    summary, verdicts, rows, times = [], [], [], {}
    same_path_1024 = None  # the path 4096² takes, timed at 1024² (again after 4096²: the host's speed drifts)
    peak_fp32 = peak_conv_gflops("fp32")
    for size in args.sizes:
        x = photo_tensor(size)
        repeats = 10 if size <= 256 else (5 if peers else 3) if size <= 1024 else 1
        functions = {}
        if size * size <= args.baseline_max_pixels:
            functions["baseline"] = lambda x=x: translate_whole(model.G_AB, x, "fp32")
        # Each function keeps its own size's image (default arguments): the 1024² ones run again later.
        functions["ours"] = lambda x=x: model.translate_tensor(x, "AtoB")
        if paths[size].backend != "torch":  # our own torch path for the same image
            functions["torch"] = lambda x=x: torch_path(model, x)
        if peers is not None:
            if size * size <= args.peer_max_pixels:
                functions.update({label: lambda x=x, fn=fn: fn(x) for label, fn in peers.functions.items()})
            else:
                summary.append(f"{size}²: peers not run (a whole pass, over --peer-max-pixels)")
                if peers.functions:  # their sessions hold memory that is not ours: free it before we are measured
                    peers.functions.clear()
                    gc.collect()
                    return_free_memory()
        if paths[size].path == "whole":  # the streamed path too: larger images take it (linear in pixels?)
            choice = paths[size]
            functions["streamed"] = lambda x=x, choice=choice: translate_streamed(
                model.G_AB, x, choice.precision, storage=storage_for("auto", choice.precision), kernel=choice.kernel)
        if args.compile and size <= 1024:
            compiler = WindowCompiler()
            model.compiler = compiler
            model.translate_tensor(x, "AtoB")  # queues every window shape of this size
            compiler.wait()
            model.compiler = None

            def compiled(compiler=compiler, x=x):
                model.compiler = compiler
                try:
                    return model.translate_tensor(x, "AtoB")
                finally:
                    model.compiler = None
            functions["compiled"] = compiled
        isolated = peers is not None and size * size > args.peer_max_pixels
        if isolated:  # the peers' sessions leave memory in this process: measure ours in a fresh one
            del functions["ours"]
        results = interleaved(functions, repeats, warm_up=size <= 1024)
        if isolated:
            seconds, rss, isolated_seam = in_fresh_process(size)
            results["ours"] = (seconds, seconds, None, rss)
            summary.append(f"{size}²: ours measured in a fresh process that first translated a 1024² image "
                           f"(the peers' leftover memory is not ours)")
        if size == 1024:
            same_path_1024 = functions.get("streamed", functions["ours"])
        if size == 4096 and same_path_1024 is not None:
            again = interleaved({"again": same_path_1024}, 3, warm_up=False)["again"][0]
            label = "streamed" if paths[1024].path == "whole" else "ours"
            before = next(r[2] for r in rows if r[0] == 1024 and r[1] == label)
            print(f"1024² {label} timed again after 4096²: {again:.3f} s (before: {before:.3f} s)", file=sys.stderr)
            rows = [r if not (r[0] == 1024 and r[1] == label) else (*r[:2], (before + again) / 2, *r[3:])
                    for r in rows]
            summary.append(f"1024² {label} {before:.2f} s before 4096², {again:.2f} s after (their mean is used)")
            if label == "ours":
                times[1024] = (before + again) / 2
        base_s, _, base, _ = results.get("baseline", (None, None, None, None))
        for label, (seconds, best, out, rss) in results.items():
            ratio, quality, seam = base_s / seconds if base_s else float("nan"), float("nan"), float("nan")
            if out is None:  # measured in a fresh process (`in_fresh_process`), seam included
                seam = isolated_seam
            elif label != "baseline":
                quality = psnr(out, base) if base is not None else float("nan")
                # Seams are judged against the baseline, or where it cannot run, against a
                # streamed run on another window grid (its boundaries fall elsewhere).
                choice = paths[size]
                reference = base if base is not None else translate_streamed(
                    model.G_AB, x, choice.precision, kernel=choice.kernel, core=CORE - 24)
                seam = seam_metric(out, reference)
            rows.append((size, label, seconds, best, ratio, quality, seam, rss))
            print(f"{size}² {label}: {seconds:.3f} s", file=sys.stderr, flush=True)
            if label != "ours":
                continue
            peer_times = {k: v[0] for k, v in results.items() if k.startswith(("ort", "ov"))}
            if peer_times:
                fastest = min(peer_times, key=peer_times.get)
                verdicts.append(f"{size}² vs the fastest peer ({fastest}, {peer_times[fastest]:.3f} s): "
                                f"{'met' if seconds <= 1.05 * peer_times[fastest] else 'MISSED'} "
                                f"(ours {seconds:.3f} s, {peer_times[fastest] / seconds:.2f}× its speed)")
            times[size] = seconds
            streamed_1024 = next((r[2] for r in rows if r[0] == 1024 and r[1] == "streamed"), times.get(1024))
            if size == 4096 and streamed_1024 and streamed_1024 != times.get(1024):
                summary.append(f"4096² ÷ 1024²: {seconds / streamed_1024:.1f}× streamed, "
                               f"{seconds / times[1024]:.1f}× the default at 1024² (one whole pass)")
            summary.append(f"{size}²: {seconds:.3f} s = {1 / seconds:.2f} img/s"
                           + (f", {ratio:.2f}× baseline, {quality:.1f} dB" if base_s else "")
                           + f", {rss / 1024:.2f} GB")
            native = auto == "bf16"
            met = {256: ratio >= 1.1 and quality >= 40 and (not native or ratio >= 2.4),
                   1024: ratio >= 1.3 and quality >= 40 and (not native or ratio >= 3),
                   4096: (seconds <= 17 * (streamed_1024 or float("nan")) and rss <= 2.5 * 1024 and seam <= 1.1
                          and (not native or seconds <= 45))}.get(size)
            if met is not None:
                target = TARGETS[size][0] + (f"; native bf16: {TARGETS[size][1]}" if native else "")
                verdicts.append(f"{size}² {'met' if met else 'MISSED'} ({target})")
    if any(label == "torch" or label.startswith("ov·bf16") for _, label, *rest in rows):
        peaks.setdefault(("bf16", "onednn"), peak_conv_gflops("bf16"))
    peak_fp32 = max(peak_fp32, peak_conv_gflops("fp32"))
    for key in peaks:  # again: a slow spell at the start must not flatter us
        peaks[key] = max(peaks[key], peak_conv_gflops(*key))
        print(f"measured peak of the residual conv, {key[0]} with {key[1]} (best at start and end): "
              f"{peaks[key]:.0f} GFLOP/s")
    print(header)
    for size, label, seconds, best, ratio, quality, seam, rss in rows:
        choice = paths[size] if label in ("ours", "compiled", "streamed") else None
        peak = peaks.get((choice.precision, choice.kernel), peak_fp32) if choice else peak_fp32
        path = choice.describe() if choice else "whole·fp32·onednn"
        if label == "streamed":
            path = f"streamed·{choice.precision}·{choice.kernel}"
        elif label == "torch":
            torch_choice = torch_path_choice(size)
            path, peak = torch_choice.describe(), peaks.get((torch_choice.precision, torch_choice.kernel), peak_fp32)
        elif label.startswith(("ort", "ov")):
            path = f"peer: {label}"
            peak = peak_fp32 if label.endswith("32") else peaks.get(("bf16", "onednn"), peak_fp32)
        share = 100 * generator_flops(size) / seconds / 1e9 / peak
        cells = [f"{v:{width}.{digits}f}" if v == v else f"{'—':>{width}s}"  # NaN: not measured
                 for v, width, digits in ((ratio, 7, 2), (quality, 8, 1), (seam, 6, 2))]
        print(f"{size:6d} {label:>9s} {path:>21s} {seconds:8.3f} {best:8.3f} {1 / seconds:7.2f} {cells[0]} {share:7.1f}% "
              f"{cells[1]} {cells[2]} {rss:8.0f}M")
    print(f"\ntranslate_speed: precision {auto}; " + "; ".join(summary))
    if verdicts:
        print("targets: " + "; ".join(verdicts))


def photo_tensor(size: int) -> torch.Tensor:
    from skimage import data
    photo = Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.array(photo)).permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1)


def fresh_process_run(size: int) -> tuple[float, float, float]:
    """In a process of its own: our default translation of a size² photo after one of 1024² (as an app
    process that served smaller images would have), with its seconds, peak RSS (MB) and seam metric."""
    torch.set_num_threads(int(os.environ.get("CYCLEGAN_BENCH_THREADS", torch.get_num_threads())))
    model, _ = trained_or_random()
    model.translate_tensor(photo_tensor(1024), "AtoB")
    x = photo_tensor(size)
    with PeakRSS() as rss:
        start = time.perf_counter()
        out = model.translate_tensor(x, "AtoB")
        seconds = time.perf_counter() - start
    choice = choose_path(size * size, 64, "auto", torch.device("cpu"))
    reference = translate_streamed(model.G_AB, x, choice.precision, kernel=choice.kernel, core=CORE - 24)
    return seconds, rss.peak, seam_metric(out, reference)


def in_fresh_process(size: int) -> tuple[float, float, float]:
    import multiprocessing
    os.environ["CYCLEGAN_BENCH_THREADS"] = str(torch.get_num_threads())
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fresh_process_run, (size,))


@contextlib.contextmanager
def torch_only():
    """Our translation restricted to its torch paths (CYCLEGAN_BACKEND=torch) inside the block."""
    before = os.environ.get("CYCLEGAN_BACKEND")
    os.environ["CYCLEGAN_BACKEND"] = "torch"
    try:
        yield
    finally:
        if before is None:
            del os.environ["CYCLEGAN_BACKEND"]
        else:
            os.environ["CYCLEGAN_BACKEND"] = before


def torch_path(model: CycleGAN, x: torch.Tensor) -> torch.Tensor:
    with torch_only():
        return model.translate_tensor(x, "AtoB")


def torch_path_choice(size: int):
    with torch_only():
        return choose_path(size * size, 64, "auto", torch.device("cpu"))


if __name__ == "__main__":
    main()
