"""Train the built-in models the Learn tab offers offline (`demo/models/<task>/`).

Each is a tiny CycleGAN (`cyclegan_core.live.LiveRun`'s networks) trained on one of the built-in
synthetic tasks (`cyclegan_core.synthetic`), saved as an ordinary model folder (config.json +
model.safetensors) with the discriminators of its training (discriminators.safetensors) and a few
example pictures of each domain (examples/A_0.png …). Re-run to remake them:

    python scripts/train_builtin_models.py [--out demo/models] [--steps 1500] [--size 48] [--only red_blue]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cyclegan_core import save_model  # noqa: E402
from cyclegan_core.discriminators import Discriminators, save_discriminators  # noqa: E402
from cyclegan_core.live import LiveRun  # noqa: E402
from cyclegan_core.synthetic import SYNTHETIC_TASKS, examples  # noqa: E402

TASKS = ("red_blue", "stripes_dots")
EXAMPLES = 3


def train_builtin(task: str, out: Path, steps: int, size: int, seed: int = 0) -> Path:
    """Train `task` for `steps` steps at `size`² and write its folder under `out`."""
    run = LiveRun(task, lambda_cycle=10.0, lambda_identity=0.5, seed=seed, size=size)
    start, before = time.perf_counter(), run.cycle_error()
    for event in run.run(steps=steps, preview_every=max(1, steps // 10)):
        if hasattr(event, "cycle_error"):
            print(f"{task}: step {event.step}/{steps}, cycle error {event.cycle_error:.3f}", flush=True)
    folder = out / task
    model = run.trainer.model
    model.config = model.config.replace(
        provenance=f"trained by scripts/train_builtin_models.py on the built-in synthetic task {task!r} "
                   f"({steps} steps at {size}², seed {seed})", license="MIT (made by this project)")
    save_model(model, folder)
    t = run.trainer
    save_discriminators(Discriminators(t.D_A, t.D_B, f"this model's own discriminators, from its training "
                                                     f"(step {t.steps_done})", t.config.ndf, t.config.n_layers_D),
                        folder)
    (folder / "examples").mkdir(exist_ok=True)
    for domain in ("A", "B"):
        for i, image in enumerate(examples(task, domain, EXAMPLES, 64, seed=100)):
            image.save(folder / "examples" / f"{domain}_{i}.png")
    print(f"{task}: cycle error {before:.3f} → {run.cycle_error():.3f} in {time.perf_counter() - start:.0f} s "
          f"→ {folder}", flush=True)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo" / "models")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--only", choices=sorted(SYNTHETIC_TASKS))
    args = parser.parse_args(argv)
    for task in [args.only] if args.only else TASKS:
        train_builtin(task, args.out, args.steps, args.size)


if __name__ == "__main__":
    main()
