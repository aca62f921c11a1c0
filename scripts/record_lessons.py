"""Record the Learn tab's lessons (`cyclegan_core.teaching.lessons.LESSONS`) into a folder the app plays back.

    python scripts/record_lessons.py [--out demo/lessons] [--only NAME] [--steps N] [--seed S] [--threads T]

Each lesson trains its variants with the live tab's tiny networks on synthetic images (nothing is
downloaded) and writes `<out>/<name>/lesson.json` plus one PNG sprite per variant. Seeded, so a
re-run on the same machine gives the same recording; another CPU may differ in the last digits
but not in what the lesson shows. Prints progress and, per lesson, its outcome sentence.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cyclegan_core.teaching.lessons import LESSONS, record_lesson  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo/lessons"),
                        help="folder to write (default: demo/lessons)")
    parser.add_argument("--only", choices=sorted(LESSONS), action="append",
                        help="record only this lesson (repeatable; default: all)")
    parser.add_argument("--steps", type=int, help="training steps per variant (default: each lesson's own)")
    parser.add_argument("--seed", type=int, help="seed (default: each lesson's own)")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for torch (default: torch's; 1 is steadier on a busy machine)")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.only or list(LESSONS)
    start = time.perf_counter()
    for name in names:
        began = time.perf_counter()
        recorded = record_lesson(LESSONS[name], args.out, steps=args.steps, seed=args.seed, progress=print)
        print(f"{name}: {recorded.frames} frames in {time.perf_counter() - began:.0f} s → {recorded.path}")
        print(f"  {recorded.outcome}" + ("" if recorded.shows_effect is not False else "  (NOT the expected effect)"))
    size = sum(path.stat().st_size for name in names for path in (args.out / name).iterdir())
    print(f"{len(names)} lesson(s) in {time.perf_counter() - start:.0f} s, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
