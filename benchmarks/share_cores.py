"""Sharing the CPU between a training run and translations in one process (as the app does).

Measures, in ONE run: a translation's speed (the default path, trained 9-block generator) and a
training run's step rate (small preset, 64² crops), each alone, then both at once — first with
each thread running a full intra-op team (what happens without coordination), then with
`runtime.CoreShare` (each job's thread team sized to its share of the usable CPUs). Prints how
much of its solo speed each keeps; the target is ≥ 40 % for both.

    python benchmarks/share_cores.py [--size 512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cyclegan_core import CycleGANTrainer, TrainConfig  # noqa: E402
from cyclegan_core.engine.runtime import CoreShare, cpu_class, resolve_precision, usable_cpus  # noqa: E402
from cyclegan_core.training.config import PRESETS  # noqa: E402
from translate_speed import trained_or_random  # noqa: E402


class Trainer(threading.Thread):
    """Training steps in a loop until stopped; records when each step ended."""

    def __init__(self, share: CoreShare | None):
        super().__init__(daemon=True)
        config = TrainConfig(crop_size=64, load_size=64, **PRESETS["small"])
        self.trainer = CycleGANTrainer.create(config)
        self.a, self.b = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
        self.share, self.ends, self.stop = share, [], threading.Event()

    def run(self):
        with self.share.job() if self.share else contextlib.nullcontext():
            while not self.stop.is_set():
                if self.share:
                    self.share.fit()
                self.trainer.step(self.a, self.b, self.trainer.config.lr)
                self.ends.append(time.perf_counter())

    def steps_per_second(self, start: float, end: float) -> float:
        """Steps completed per second within [start, end]."""
        inside = [t for t in self.ends if start <= t <= end]
        return (len(inside) - 1) / (inside[-1] - inside[0]) if len(inside) > 1 else 0.0


def translate_times(model, x, rounds: int, share: CoreShare | None) -> list[float]:
    times = []
    for _ in range(rounds):
        with share.job() if share else contextlib.nullcontext():
            start = time.perf_counter()
            model.translate_tensor(x, "AtoB")
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model, weights = trained_or_random()
    x = torch.rand(1, 3, args.size, args.size) * 2 - 1
    print(f"machine: {cpu_class()}, {usable_cpus()} usable CPUs, torch {torch.__version__}; weights: {weights}; "
          f"translation {args.size}² ({resolve_precision('auto', torch.device('cpu'))}), training small preset 64²")
    model.translate_tensor(x, "AtoB")  # warm-up (and the kernel choice)
    solo_translate = statistics.median(translate_times(model, x, args.rounds, None))
    trainer = Trainer(None)
    trainer.start()
    time.sleep(3)
    start = time.perf_counter()
    time.sleep(max(5.0, 2 * solo_translate))
    solo_steps = trainer.steps_per_second(start, time.perf_counter())
    trainer.stop.set()
    trainer.join()
    rows = [("alone", solo_translate, solo_steps)]
    for label, share in (("together, uncoordinated", None), ("together, CoreShare", CoreShare())):
        trainer = Trainer(share)
        trainer.start()
        time.sleep(3)  # warm-up steps
        start = time.perf_counter()
        times = translate_times(model, x, args.rounds, share)
        steps = trainer.steps_per_second(start, time.perf_counter())
        trainer.stop.set()
        trainer.join()
        rows.append((label, statistics.median(times), steps))
    print(f"{'':26s} {'translate s':>12s} {'kept':>6s} {'train steps/s':>14s} {'kept':>6s}")
    for label, seconds, steps in rows:
        print(f"{label:26s} {seconds:12.2f} {solo_translate / seconds:6.0%} {steps:14.2f} {steps / solo_steps:6.0%}")
    _, seconds, steps = rows[-1]
    kept = min(solo_translate / seconds, steps / solo_steps)
    print(f"\nshare_cores: with CoreShare translation keeps {solo_translate / seconds:.0%} and training "
          f"{steps / solo_steps:.0%} of their solo speed (target ≥ 40 % each: {'met' if kept >= 0.4 else 'MISSED'})")


if __name__ == "__main__":
    main()
