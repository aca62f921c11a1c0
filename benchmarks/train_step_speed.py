"""Seconds per training step on this machine: which precision should training default to?

One full CycleGAN iteration (both generators with cycle + identity, both discriminators, Adam)
for the paper's 9-block generator at 128² crops (the fine-tuning default) and the small preset
at 64², in fp32 and in bf16 autocast, measured in one process. `auto` picks bf16 only where
the CPU has native bf16 (AVX512-BF16/AMX); this prints whether that choice is right here. Then
the fine-tune step as the app runs it (early layers fixed, `auto` precision) against the reference
way (eager fp32, every layer trained, the reference's update order), and with `--compile` the same
fine-tune step with its four networks through `torch.compile` (the compile time is printed apart).

    python benchmarks/train_step_speed.py [--steps 6] [--compile] [--fine-tune-only]
    python benchmarks/train_step_speed.py --throughput [--processes 2] [--preset small --crop 64]

`--throughput` reports training images/s in one process and in N data-parallel processes (the
torch.distributed path of `torchrun`: gloo on a CPU, NCCL on GPUs when there are N of them), and the
scaling efficiency: images/s with N ÷ (N × images/s with one). On a CPU the N processes share its
cores (each gets cores ÷ N threads), so the efficiency there says what the communication costs,
not what N machines would give.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cyclegan_core import CycleGAN, CycleGANTrainer, ModelConfig, TrainConfig  # noqa: E402
from cyclegan_core.engine.runtime import cpu_class, cpu_has_native_bf16, resolve_precision  # noqa: E402
from cyclegan_core.training.config import PRESETS  # noqa: E402


def seconds_per_step(preset: str, crop: int, precision: str, steps: int, freeze: str = "none",
                     compiled: bool = False) -> float:
    """Seconds per `CycleGANTrainer.step` (the iteration `train()` runs), after one warm-up step.
    `freeze="early"` is a fine-tune's default (`TrainConfig.freeze`); the weights' values do not
    change the time, so the generators are random here. `compiled`: the four networks run through
    `torch.compile` (the warm-up steps compile them; their time is printed)."""
    config = TrainConfig(crop_size=crop, load_size=crop, precision=precision, freeze=freeze, **PRESETS[preset])
    trainer = CycleGANTrainer(CycleGAN(ModelConfig(ngf=config.ngf, n_blocks=config.n_blocks)), config)
    a, b = torch.rand(1, 3, crop, crop) * 2 - 1, torch.rand(1, 3, crop, crop) * 2 - 1
    if compiled:
        trainer.distribute(torch.compile)
        start = time.perf_counter()
        for _ in range(2):  # the first step compiles; the second may recompile (dynamic shapes)
            trainer.step(a, b, trainer.config.lr)
        print(f"  (torch.compile: the first two steps took {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    trainer.step(a, b, trainer.config.lr)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(a, b, trainer.config.lr)
    return (time.perf_counter() - start) / steps


def _rank(rank: int, world: int, port: int, preset: str, crop: int, steps: int, device: str, threads: int,
          results) -> None:
    """One data-parallel rank: the trainer through DDP, as `train()` runs it under torchrun."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    backend = "nccl" if device == "cuda" else "gloo"
    dev = torch.device("cuda", rank) if device == "cuda" else torch.device("cpu")
    if device == "cuda":
        torch.cuda.set_device(rank)
    torch_dist.init_process_group(backend, rank=rank, world_size=world)
    trainer = CycleGANTrainer.create(TrainConfig(crop_size=crop, load_size=crop, precision="auto", **PRESETS[preset]),
                                     dev)
    trainer.distribute(lambda net: torch.nn.parallel.DistributedDataParallel(
        net, device_ids=[rank] if device == "cuda" else None))
    a, b = torch.rand(1, 3, crop, crop) * 2 - 1, torch.rand(1, 3, crop, crop) * 2 - 1
    trainer.step(a, b, trainer.config.lr)  # warm-up
    torch_dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(a, b, trainer.config.lr)
    if device == "cuda":
        torch.cuda.synchronize()
    torch_dist.barrier()
    if rank == 0:
        results.put(time.perf_counter() - start)
    torch_dist.destroy_process_group()


def images_per_second(world: int, preset: str, crop: int, steps: int, device: str) -> float:
    """Training images per second (batch 1 per rank) with `world` data-parallel processes."""
    cores = max(1, torch.get_num_threads())
    if world == 1:
        trainer = CycleGANTrainer.create(TrainConfig(crop_size=crop, load_size=crop, precision="auto",
                                                     **PRESETS[preset]), device)
        a, b = torch.rand(1, 3, crop, crop) * 2 - 1, torch.rand(1, 3, crop, crop) * 2 - 1
        trainer.step(a, b, trainer.config.lr)
        start = time.perf_counter()
        for _ in range(steps):
            trainer.step(a, b, trainer.config.lr)
        if device == "cuda":
            torch.cuda.synchronize()
        return steps / (time.perf_counter() - start)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.get_context("spawn")
    results = context.Queue()
    threads = cores if device == "cuda" else max(1, cores // world)
    mp.spawn(_rank, args=(world, port, preset, crop, steps, device, threads, results), nprocs=world, join=True)
    return world * steps / results.get()


def throughput(processes: int, preset: str, crop: int, steps: int) -> None:
    device = "cuda" if torch.cuda.device_count() >= processes else "cpu"
    backend = "NCCL" if device == "cuda" else "gloo"
    one = images_per_second(1, preset, crop, steps, device)
    many = images_per_second(processes, preset, crop, steps, device)
    print(f"{'processes':>10s} {'images/s':>10s} {'efficiency':>11s}   ({preset} preset, {crop}² crops, {device}, "
          f"{backend}, batch 1 per process, {torch.get_num_threads()} CPU threads in all)")
    print(f"{1:10d} {one:10.2f} {'—':>11s}")
    print(f"{processes:10d} {many:10.2f} {many / (processes * one):10.0%}")
    print(f"\ntrain_step_speed: {processes} processes give {many:.2f} images/s against {one:.2f} with one "
          f"({many / one:.2f}×, scaling efficiency {many / (processes * one):.0%}) on {device} ({backend})")


def fine_tune(steps: int, compile_too: bool, fp32: float) -> float:
    """The Train tab's main use: fine-tuning the zoo's 9-block model at 128². The reference way (`fp32`
    s/step) trains every layer in eager fp32; the default keeps the early layers fixed (freeze="auto"
    on a fine-tune: "early") and trains in `auto` precision. Prints the rows; returns the default's s/step."""
    auto = resolve_precision("auto", torch.device("cpu"))
    tuned = seconds_per_step("full", 128, "auto", steps, freeze="early")
    target = "≥ 1.3×" + ("" if cpu_has_native_bf16() else " (no native bf16 here)")
    print(f"\n{'fine-tune step, 9 blocks, 128²':34s} {'s/step':>8s} {'speed-up':>9s}")
    print(f"{'reference way (fp32, all layers)':34s} {fp32:8.3f} {1:8.2f}×")
    print(f"{f'default ({auto}, early layers fixed)':34s} {tuned:8.3f} {fp32 / tuned:8.2f}×   target {target}: "
          f"{'met' if fp32 / tuned >= 1.3 else 'MISSED'}")
    if compile_too:
        compiled = seconds_per_step("full", 128, "auto", steps, freeze="early", compiled=True)
        print(f"{'default, torch.compile':34s} {compiled:8.3f} {fp32 / compiled:8.2f}×   "
              f"({tuned / compiled:.2f}× the eager default)")
    return tuned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--throughput", action="store_true", help="images/s with 1 and N data-parallel processes")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--compile", action="store_true", help="also time the default fine-tune step compiled")
    parser.add_argument("--fine-tune-only", action="store_true",
                        help="only the fine-tune step (reference way, default, --compile): no precision table")
    args = parser.parse_args()
    print(f"machine: {cpu_class()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    if args.throughput:
        throughput(args.processes, args.preset, args.crop, args.steps)
        return
    results = {}
    if args.fine_tune_only:
        fine_tune(args.steps, args.compile, seconds_per_step("full", 128, "fp32", args.steps))
        return
    print(f"{'setting':28s} {'fp32 s/step':>12s} {'bf16 s/step':>12s} {'bf16 speed-up':>14s}")
    for preset, crop in (("full", 128), ("small", 64)):
        fp32 = seconds_per_step(preset, crop, "fp32", args.steps)
        bf16 = seconds_per_step(preset, crop, "bf16", args.steps)
        results[(preset, crop)] = (fp32, bf16)
        print(f"{preset + f' preset, {crop}² crops':28s} {fp32:12.3f} {bf16:12.3f} {fp32 / bf16:13.2f}×")
    fp32, bf16 = results[("full", 128)]
    auto = resolve_precision("auto", torch.device("cpu"))
    right = (auto == "bf16") == (bf16 < fp32)
    tuned = fine_tune(args.steps, args.compile, fp32)
    print(f"\ntrain_step_speed: 9-block fine-tune at 128²: fp32 {fp32:.2f} s/step, bf16 {bf16:.2f} s/step "
          f"({fp32 / bf16:.2f}×); native bf16: {cpu_has_native_bf16()}; auto picks {auto} "
          f"({'the faster one' if right else 'NOT the faster one'}); default fine-tune step {tuned:.2f} s "
          f"= {fp32 / tuned:.2f}× the reference way")


if __name__ == "__main__":
    main()
