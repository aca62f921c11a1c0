"""Seconds per training step on this machine: which precision should training default to?

One full CycleGAN iteration (both generators with cycle + identity, both discriminators, Adam)
for the paper's 9-block generator at 128² crops (the fine-tuning default) and the small preset
at 64², in fp32 and in bf16 autocast, measured in one process. `auto` picks bf16 only where
the CPU has native bf16 (AVX512-BF16/AMX); this prints whether that choice is right here.

    python benchmarks/train_step_speed.py [--steps 6]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cyclegan_core import CycleGANTrainer, TrainConfig  # noqa: E402
from cyclegan_core.runtime import cpu_has_native_bf16, resolve_precision  # noqa: E402
from cyclegan_core.train_config import PRESETS  # noqa: E402


def seconds_per_step(preset: str, crop: int, precision: str, steps: int) -> float:
    """Seconds per `CycleGANTrainer.step` (the iteration `train()` runs), after one warm-up step."""
    trainer = CycleGANTrainer.create(TrainConfig(crop_size=crop, load_size=crop, precision=precision,
                                                 **PRESETS[preset]))
    a, b = torch.rand(1, 3, crop, crop) * 2 - 1, torch.rand(1, 3, crop, crop) * 2 - 1
    trainer.step(a, b, trainer.config.lr)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(a, b, trainer.config.lr)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    results = {}
    print(f"{'setting':28s} {'fp32 s/step':>12s} {'bf16 s/step':>12s} {'bf16 speed-up':>14s}")
    for preset, crop in (("full", 128), ("small", 64)):
        fp32 = seconds_per_step(preset, crop, "fp32", args.steps)
        bf16 = seconds_per_step(preset, crop, "bf16", args.steps)
        results[(preset, crop)] = (fp32, bf16)
        print(f"{preset + f' preset, {crop}² crops':28s} {fp32:12.3f} {bf16:12.3f} {fp32 / bf16:13.2f}×")
    fp32, bf16 = results[("full", 128)]
    auto = resolve_precision("auto", torch.device("cpu"))
    right = (auto == "bf16") == (bf16 < fp32)
    print(f"\ntrain_step_speed: 9-block fine-tune at 128²: fp32 {fp32:.2f} s/step, bf16 {bf16:.2f} s/step "
          f"({fp32 / bf16:.2f}×); native bf16: {cpu_has_native_bf16()}; auto picks {auto} "
          f"({'the faster one' if right else 'NOT the faster one'})")


if __name__ == "__main__":
    main()
