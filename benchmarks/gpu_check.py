"""The GPU paths, proven on whatever GPU is present (issue #31): translation, training, torchrun.

    python benchmarks/gpu_check.py [--huge 6144] [--steps 50] [--cpu-reference-max 4096] [--device D]

On a machine without a GPU it says so and exits 0. `--device cpu --sizes 64 --huge 0 --crop 32` runs
the same checks on the CPU, small: the script's own test, so that a GPU's time is not spent on a bug. On a GPU, with the packaged `vintage` model (the
paper's 9-block generator with affine InstanceNorm; a random affine-norm model if it is missing):

- translation at 256², 1024² and 4096² on the whole, streamed and tiled paths, in bf16 and fp32,
  each against the CPU's fp32 result (≥ 40 dB PSNR), and `translate_tensor`'s own choice;
- a size above the 32-bit index cap (`--huge`, default 6144²: 64 × 6150² > 2³¹ elements): the
  choice must not be a whole pass, and the tiled result is checked against the CPU on a crop (the
  same thumbnail statistics, the tiles under the crop's interior recomputed on the CPU);
- training: `--steps` steps, a stop, a resume to `--steps` + 10, against an uninterrupted run (its
  losses must continue as the uninterrupted run's do: the difference is compared with that between
  two uninterrupted runs, the GPU's own non-determinism);
- torchrun with NCCL, one process per GPU (with two or more GPUs): a short run with the ranks'
  weights compared after every step, then a SIGTERM to one rank, which must stop every rank at one
  step with a checkpoint.

It prints a table (seconds, peak GPU memory, images/s) headed by the GPU's name, and exits 1 on any
failure.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS, for the training check

from cyclegan_core import CycleGAN, ModelConfig, RunFolder, TrainConfig  # noqa: E402
from cyclegan_core.engine import tiling  # noqa: E402
from cyclegan_core.engine.streaming import storage_for, translate_streamed  # noqa: E402
from cyclegan_core.engine.translation import (choose_path, generator_width, stream_budget,  # noqa: E402
                                              translate_tensor, translate_whole, within_index_cap)

MIN_PSNR = 40.0


class Table:
    """The results, one row per check; `failed` counts the rows that did not pass."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.failed = 0

    def add(self, check: str, detail: str, seconds: float | None, memory_gb: float | None, rate: str, ok: bool,
            note: str = "") -> None:
        self.rows.append((check, detail, seconds, memory_gb, rate, "ok" if ok else "FAIL", note))
        self.failed += not ok
        print(f"  {check} {detail}: {'ok' if ok else 'FAIL'} {note}", file=sys.stderr, flush=True)

    def print(self, title: str) -> None:
        print(f"\n{title}\n")
        print("| check | detail | seconds | peak GPU GB | images/s | result | note |")
        print("| --- | --- | ---: | ---: | ---: | --- | --- |")
        for check, detail, seconds, memory, rate, result, note in self.rows:
            s = f"{seconds:.3f}" if seconds is not None else ""
            m = f"{memory:.2f}" if memory is not None else ""
            print(f"| {check} | {detail} | {s} | {m} | {rate} | {result} | {note} |")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [-1, 1] (peak-to-peak 2)."""
    mse = (a.double().cpu() - b.double().cpu()).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(4 / mse)


def photo(size: int, width: int | None = None) -> torch.Tensor:
    """scikit-image's astronaut, resized to size × width (default square), as 1×3×H×W in [-1, 1]."""
    import numpy as np
    from PIL import Image
    from skimage import data
    picture = Image.fromarray(data.astronaut()).resize((width or size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.array(picture)).permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1)


def affine_model() -> tuple[CycleGAN, str]:
    """The packaged vintage model (affine norms), or a random one of the same kind."""
    from cyclegan_core import load
    try:
        return load("vintage", device="cpu"), "vintage"
    except Exception as e:  # noqa: BLE001 — a benchmark: say why and go on with a random model
        print(f"(vintage not available: {e}; a random affine-norm model instead)", file=sys.stderr)
        torch.manual_seed(0)
        return CycleGAN(ModelConfig(norm="instance_affine", one_way=True)), "random affine"


def timed(fn, device: torch.device):
    """(result, seconds, peak GPU memory in GB; None on the CPU) of fn()."""
    gpu = device.type == "cuda"
    if gpu:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    result = fn()
    if gpu:
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start, torch.cuda.max_memory_allocated(device) / 2**30 if gpu else None


def check_translation(table: Table, gpu: torch.nn.Module, cpu: torch.nn.Module, sizes: list[int],
                      cpu_reference_max: int, device: torch.device) -> None:
    """Each path and precision at each size against the CPU's fp32 result (streamed: exact)."""
    for size in sizes:
        x = photo(size)
        if size > cpu_reference_max:
            print(f"  ({size}²: no CPU reference above --cpu-reference-max {cpu_reference_max})", file=sys.stderr)
            continue
        start = time.perf_counter()
        reference = translate_streamed(cpu, x, "fp32", storage="fp32")
        print(f"  CPU fp32 reference at {size}²: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        for precision in ("fp32", "bf16"):
            runs = {
                "whole": lambda: translate_whole(gpu, x, precision),
                "streamed": lambda: translate_streamed(gpu, x, precision, storage=storage_for(precision, precision)),
                "tiled": lambda: tiling.translate_tiled(gpu, x, precision, storage=storage_for(precision, precision)),
                "choice": lambda: translate_tensor(gpu, x, precision),
            }
            for path, run in runs.items():
                if path == "whole" and not within_index_cap(size, size, generator_width(gpu)):
                    continue
                try:
                    run()  # warm-up (cuDNN's plans, the allocator)
                    out, seconds, memory = timed(run, device)
                except Exception as e:  # noqa: BLE001 — a failure is a row of the table
                    table.add("translate", f"{size}² {path} {precision}", None, None, "", False, repr(e)[:120])
                    continue
                db = psnr(out, reference)
                ok = db >= MIN_PSNR and out.device == x.device and out.shape == x.shape
                ngf = generator_width(gpu)
                chosen = f" ({choose_path(size * size, ngf, precision, device).describe()})" if path == "choice" else ""
                table.add("translate", f"{size}² {path}{chosen} {precision}", seconds, memory,
                          f"{1 / seconds:.2f}", ok, f"{db:.1f} dB vs CPU fp32")


def check_huge(table: Table, gpu: torch.nn.Module, cpu: torch.nn.Module, side: int, device: torch.device) -> None:
    """Above the 32-bit index cap: never a whole pass; the tiled result against the CPU on a crop."""
    x, pixels, ngf = photo(side), side * side, generator_width(gpu)
    choice = choose_path(pixels, ngf, "bf16", device, shape=(side, side))
    table.add("index cap", f"{side}² bf16 → {choice.describe()}", None, None, "",
              choice.path != "whole" and not within_index_cap(side, side, ngf),
              f"{ngf} × {side + 6}² = {ngf * (side + 6) ** 2 / 2**31:.2f} × 2³¹ elements")
    for precision in ("bf16", "fp32"):
        storage = storage_for(precision, precision)
        try:
            out, seconds, memory = timed(lambda: translate_tensor(gpu, x, precision), device)
        except Exception as e:  # noqa: BLE001
            table.add("translate", f"{side}² {precision}", None, None, "", False, repr(e)[:120])
            continue
        statistics = tiling.thumbnail_statistics(gpu, x.to(device), stream_budget(storage), precision, storage)
        db = psnr(crop_of(out), tiled_crop_on_cpu(cpu, x, [(m.cpu(), v.cpu()) for m, v in statistics], precision))
        table.add("translate", f"{side}² {choose_path(pixels, ngf, precision, device, (side, side)).describe()}",
                  seconds, memory, f"{1 / seconds:.3f}", db >= MIN_PSNR and out.device == x.device,
                  f"{db:.1f} dB vs CPU fp32 on a 1024² crop")


CROP = slice(2048, 3072)  # rows and columns of the checked crop: far from the crop windows' edges


def crop_of(t: torch.Tensor) -> torch.Tensor:
    return t[..., CROP, CROP]


def tiled_crop_on_cpu(cpu: torch.nn.Module, x: torch.Tensor, statistics: list, precision: str) -> torch.Tensor:
    """The tiled result's crop `CROP`, computed on the CPU in fp32 with the GPU run's thumbnail
    statistics: the tiling of a window around the crop, whose tiles start on the whole image's
    tile grid (multiples of 448 = tile − overlap), so the tiles under the crop are the same tiles."""
    start, stop = 448 * 3, 448 * 8  # 1344 … 3584: contains the crop with a whole tile to spare each side
    window = x[..., start:stop, start:stop]
    real = tiling.thumbnail_statistics
    tiling.thumbnail_statistics = lambda *a, **k: statistics
    try:
        out = tiling.translate_tiled(cpu, window, "fp32")
    finally:
        tiling.thumbnail_statistics = real
    return out[..., CROP.start - start:CROP.stop - start, CROP.start - start:CROP.stop - start]


def check_training(table: Table, steps: int, device: torch.device, workdir: Path, crop: int = 128) -> None:
    """`steps` steps, stop, resume to `steps` + 10, against two uninterrupted runs (`crop`² crops)."""
    from cyclegan_core.teaching.synthetic import examples
    from cyclegan_core.training.loop import StepDone, train

    for folder, domain in (("a", "A"), ("b", "B")):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
        for i, picture in enumerate(examples("red_blue", domain, 8, crop + crop // 4, 0)):
            picture.save(workdir / folder / f"{i}.png")
    config = TrainConfig(steps=steps + 10, crop_size=crop, checkpoint_every=10_000, preview_every=10_000, seed=1)
    data = (workdir / "a", workdir / "b")

    def losses(run: str, resume: bool = False, stop_at: int | None = None) -> list[dict]:
        seen, stream = [], train(config, *data, workdir / run, resume=resume, device=str(device))
        for event in stream:
            if isinstance(event, StepDone):
                seen.append(event.losses)
                if event.step == stop_at:
                    break
        stream.close()
        return seen

    torch.use_deterministic_algorithms(True, warn_only=True)  # as far as the GPU's kernels allow
    try:
        (full, seconds, memory) = timed(lambda: losses("full"), device)
        twin = losses("twin")
        split = losses("split", stop_at=steps) + losses("split", resume=True)
    except Exception as e:  # noqa: BLE001
        table.add("train", f"{steps} + 10 steps", None, None, "", False, repr(e)[:120])
        return
    finally:
        torch.use_deterministic_algorithms(False)

    def difference(a: list[dict], b: list[dict]) -> float:
        return max(abs(x[k] - y[k]) / max(abs(x[k]), 1e-6) for x, y in zip(a, b) for k in x)

    noise, resumed = difference(full, twin), difference(full, split)
    ok = len(split) == len(full) == steps + 10 and resumed <= max(10 * noise, 1e-6)
    table.add("train", f"{steps} steps, stop, resume to {steps + 10} ({config.precision}, {crop}² crops)", seconds,
              memory, f"{len(full) * config.batch_size / seconds:.1f}", ok,
              f"largest relative loss difference: resumed {resumed:.2e}, two uninterrupted runs {noise:.2e}"
              + (" (bit-exact)" if resumed == 0 else ""))


def check_torchrun(table: Table, workdir: Path) -> None:
    """torchrun with NCCL, one process per GPU: weights compared every step, then a stop on one rank."""
    gpus = torch.cuda.device_count()
    if gpus < 2:
        table.add("torchrun", "NCCL", None, None, "", True, f"skipped: {gpus} GPU (NCCL needs one process per GPU)")
        return
    env = dict(os.environ, CYCLEGAN_DIST_CHECK="1", CYCLEGAN_DIST_TIMEOUT="60")
    args = ["--data-a", workdir / "a", "--data-b", workdir / "b", "--crop-size", "128", "--device", "cuda:0"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
                "-m", "cyclegan_core", "train"]
    start = time.perf_counter()
    done = subprocess.run([*launcher, *map(str, args), "--out", workdir / "dist", "--steps", "20"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    table.add("torchrun", f"NCCL × {gpus}, 20 steps, weights checked each step", seconds, None,
              f"{20 * gpus / seconds:.1f}", done.returncode == 0, done.stderr[-200:].replace("\n", " ")
              if done.returncode else "")
    out = workdir / "dist-stop"
    run = subprocess.Popen([*launcher, *map(str, args), "--out", out, "--steps", "100000", "--checkpoint-every", "5"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / "training_state.safetensors").is_file() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    rank = worker_pid(run.pid, gpus - 1)
    if rank is not None:
        os.kill(rank, signal.SIGTERM)  # to the last rank only, as a cluster might
    try:
        stdout, stderr = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        run.kill()
        stdout, stderr = run.communicate()
    stopped = [line for line in stdout.splitlines() if line.startswith("stopped at step")]
    ok = rank is not None and run.returncode == 0 and bool(stopped) and \
        RunFolder(out).steps_done() == int(stopped[0].split()[3])
    table.add("torchrun", f"NCCL × {gpus}, SIGTERM to rank {gpus - 1}", None, None, "", ok,
              stopped[0] if stopped else stderr[-200:].replace("\n", " "))


def worker_pid(launcher: int, rank: int) -> int | None:
    """The pid of torchrun's worker with RANK=`rank` (Linux /proc)."""
    queue = [launcher]
    while queue:
        pid = queue.pop()
        try:
            environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
        except OSError:
            environ = []
        if f"RANK={rank}".encode() in environ and f"LOCAL_RANK={rank}".encode() in environ:
            return pid
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    queue.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--huge", type=int, default=6144, help="a side above the 32-bit index cap (0: skip)")
    parser.add_argument("--cpu-reference-max", type=int, default=4096, help="largest side given a CPU reference")
    parser.add_argument("--steps", type=int, default=50, help="training steps before the stop (then 10 more)")
    parser.add_argument("--crop", type=int, default=128, help="the training check's crop size")
    parser.add_argument("--skip", nargs="*", default=[], choices=["translate", "huge", "train", "torchrun"])
    parser.add_argument("--device", help="the device checked (default: the first GPU; cpu: the script's own test)")
    args = parser.parse_args()
    if args.device is None and not torch.cuda.is_available():
        print("no GPU: nothing to check (torch.cuda.is_available() is False). "
              "Run this on a machine with an NVIDIA GPU to check the GPU paths.")
        return 0
    device = torch.device(args.device or "cuda:0")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model, name = affine_model()
    cpu, gpu = model.G_AB.eval(), CycleGAN(model.config).G_AB
    gpu.load_state_dict(cpu.state_dict())
    gpu = gpu.to(device).eval()
    table = Table()
    with tempfile.TemporaryDirectory() as tmp:
        if "translate" not in args.skip:
            check_translation(table, gpu, cpu, args.sizes, args.cpu_reference_max, device)
        if args.huge and "huge" not in args.skip:
            check_huge(table, gpu, cpu, args.huge, device)
        if "train" not in args.skip:
            check_training(table, args.steps, device, Path(tmp), args.crop)
        if "torchrun" not in args.skip:
            if "train" in args.skip:
                check_training(table, 1, device, Path(tmp), args.crop)  # makes the data folders
            check_torchrun(table, Path(tmp))
    if device.type != "cuda":
        table.print(f"gpu_check's dry run on {device} (torch {torch.__version__}, model {name}): no GPU figures")
        print(f"\n{len(table.rows) - table.failed} passed, {table.failed} failed")
        return 1 if table.failed else 0
    properties = torch.cuda.get_device_properties(device)
    table.print(f"gpu_check on {torch.cuda.get_device_name(device)} ({properties.total_memory / 2**30:.0f} GiB, "
                f"{torch.cuda.device_count()} GPU(s), torch {torch.__version__}, model {name}, bf16 "
                f"{'native' if torch.cuda.is_bf16_supported() else 'absent'})")
    print(f"\n{len(table.rows) - table.failed} passed, {table.failed} failed")
    return 1 if table.failed else 0


if __name__ == "__main__":
    sys.exit(main())
