"""Does training from scratch learn a known unpaired mapping on this CPU, and how fast?

Domain A: real photos. Domain B: *other* photos through a fixed colour grade T ("winter":
desaturate, cool tint, lifted blacks). The two sets share no image, so this is an unpaired task
with a known answer: G_AB should learn T. After a bounded number of steps (small preset) we
measure, on held-out photos x that were in neither set:

  PSNR(G_AB(x), T(x))  vs the identity baseline  PSNR(x, T(x))

both at full resolution and at colour level (8×8 block means, i.e. the grade without fine
detail, which a short CPU run cannot yet reconstruct), plus the cycle error ‖F(G(x)) − x‖₁,
steps/s and peak memory. Prints a table and one summary line.

`--fine-tune STEPS` then fine-tunes the model it trained onto a second grade ("warm": a sepia
tint) for STEPS steps, once with every layer trained and once with the early layers fixed (the
app's default for a two-way fine-tune, `TrainConfig.freeze`), from the same seed, and compares
the two against that grade: what fixing the early layers costs a fine-tune, and what it saves.

    python benchmarks/train_convergence.py [--steps 2000] [--crop 64] [--fine-tune 300]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cyclegan_core import TrainConfig, load_model, train  # noqa: E402
from cyclegan_core.engine.images import image_to_tensor  # noqa: E402
from cyclegan_core.engine.runtime import cpu_class  # noqa: E402
from cyclegan_core.training.loop import Finished, StepDone  # noqa: E402

TRAIN_A = ["astronaut", "chelsea", "hubble_deep_field"]
TRAIN_B = ["coffee", "rocket", "immunohistochemistry"]
HELD_OUT = ["motorcycle_left", "motorcycle_right"]  # scikit-image's stereo pair: in neither set


def winter(rgb: np.ndarray) -> np.ndarray:
    """T: desaturate by 60 %, cool tint, lift the blacks. uint8 H×W×3 → uint8."""
    x = rgb.astype(np.float64) / 255.0
    gray = x @ np.array([0.299, 0.587, 0.114])
    x = 0.4 * x + 0.6 * gray[..., None]
    x = x * np.array([0.85, 0.97, 1.12])
    x = 0.15 + 0.85 * x
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def warm(rgb: np.ndarray) -> np.ndarray:
    """T₂ (the fine-tune's target): a sepia-like warm tint with a little more contrast."""
    x = rgb.astype(np.float64) / 255.0
    x = 0.5 + 1.1 * (x - 0.5)
    x = x * np.array([1.12, 0.98, 0.80]) + np.array([0.03, 0.01, 0.0])
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def photo(name: str, shorter: int) -> Image.Image:
    if name.startswith("motorcycle_"):
        array = data.stereo_motorcycle()[0 if name.endswith("left") else 1]
    else:
        array = getattr(data, name)()
    image = Image.fromarray(array).convert("RGB")
    scale = shorter / min(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def block_means(rgb: np.ndarray, block: int = 8) -> np.ndarray:
    h, w = (rgb.shape[0] // block) * block, (rgb.shape[1] // block) * block
    return rgb[:h, :w].reshape(h // block, block, w // block, block, 3).mean(axis=(1, 3))


def write_domains(folder: Path, grade, shorter: int) -> tuple[Path, Path]:
    """Domain A: the TRAIN_A photos as they are; domain B: the TRAIN_B photos through `grade`."""
    for sub, names, graded in (("a", TRAIN_A, False), ("b", TRAIN_B, True)):
        (folder / sub).mkdir(parents=True)
        for name in names:
            image = photo(name, shorter)
            if graded:
                image = Image.fromarray(grade(np.asarray(image)))
            image.save(folder / sub / f"{name}.png")
    return folder / "a", folder / "b"


def run_training(config: TrainConfig, a: Path, b: Path, out: Path) -> float:
    """Train to the end, printing the losses ten times; seconds taken."""
    start = time.perf_counter()
    for event in train(config, a, b, out):
        if isinstance(event, StepDone) and event.step % max(1, config.steps // 10) == 0:
            print(f"step {event.step:5d}  {event.seconds_per_step:.3f} s/step  "
                  + " ".join(f"{k}={v:.3f}" for k, v in event.losses.items()), flush=True)
        if isinstance(event, Finished):
            break
    return time.perf_counter() - start


def evaluate(run: Path, grade) -> list[dict]:
    """The trained G_AB on the held-out photos against `grade`: PSNRs and cycle error per photo."""
    model = load_model(run)
    rows = []
    for name in HELD_OUT:
        x = np.asarray(photo(name, 256))
        target = grade(x)
        with torch.inference_mode():
            xt = image_to_tensor(Image.fromarray(x))
            fake = model.translate_tensor(xt, "AtoB", "fp32")
            rec = model.translate_tensor(fake, "BtoA", "fp32")
        g = np.asarray(Image.fromarray(((fake[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255)
                                       .astype(np.uint8)))
        rows.append({
            "photo": name,
            "full_G": psnr(g, target), "full_id": psnr(x, target),
            "colour_G": psnr(block_means(g), block_means(target)), "colour_id": psnr(block_means(x), block_means(target)),
            "cycle_L1": float(F.l1_loss(rec, xt)) * 127.5,
        })
    return rows


def print_rows(rows: list[dict]) -> dict:
    print(f"\n{'photo':18s} {'full G':>8s} {'full id':>8s} {'colour G':>9s} {'colour id':>9s} {'cycle L1':>9s}")
    for r in rows:
        print(f"{r['photo']:18s} {r['full_G']:8.2f} {r['full_id']:8.2f} {r['colour_G']:9.2f} {r['colour_id']:9.2f} "
              f"{r['cycle_L1']:9.2f}")
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "photo"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--photo-size", type=int, default=160, help="shorter side of the training photos")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fine-tune", type=int, default=0, metavar="STEPS",
                        help="then fine-tune onto a second grade, all layers vs early layers fixed")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        a, b = write_domains(tmp / "winter", winter, args.photo_size)
        config = TrainConfig(steps=args.steps, crop_size=args.crop, load_size=args.photo_size, lr=args.lr,
                             precision=args.precision, seed=args.seed, preview_every=10**9,
                             checkpoint_every=10**9, ngf=32, n_blocks=6)
        seconds = run_training(config, a, b, tmp / "run")
        rows = evaluate(tmp / "run", winter)
        print(f"\nmachine: {cpu_class()}, {torch.get_num_threads()} threads")
        mean = print_rows(rows)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\ntrain_convergence: {args.steps} steps in {seconds:.0f} s ({args.steps / seconds:.2f} steps/s, "
              f"{args.crop}² crops, small preset); colour PSNR {mean['colour_G']:.2f} dB vs identity "
              f"{mean['colour_id']:.2f} dB ({mean['colour_G'] - mean['colour_id']:+.2f} dB); full PSNR "
              f"{mean['full_G']:.2f} vs {mean['full_id']:.2f} dB ({mean['full_G'] - mean['full_id']:+.2f} dB); "
              f"cycle L1 {mean['cycle_L1']:.1f}/255; peak RSS {peak_mb:.0f} MB")
        if args.fine_tune:
            fine_tune(args, tmp)


def fine_tune(args, tmp: Path) -> None:
    """Fine-tune the winter model onto the warm grade with every layer trained, then with the early
    layers fixed; same seed, data and steps."""
    a, b = write_domains(tmp / "warm", warm, args.photo_size)
    results = {}
    for freeze in ("none", "early"):
        config = TrainConfig(steps=args.fine_tune, crop_size=args.crop, load_size=args.photo_size, lr=args.lr,
                             precision=args.precision, seed=args.seed, preview_every=10**9,
                             checkpoint_every=10**9, init=str(tmp / "run"), freeze=freeze)
        print(f"\nfine-tune onto the warm grade, freeze={freeze}:", flush=True)
        seconds = run_training(config, a, b, tmp / f"fine-{freeze}")
        results[freeze] = (seconds, print_rows(evaluate(tmp / f"fine-{freeze}", warm)))
    start = evaluate(tmp / "run", warm)  # the winter model, before fine-tuning, against the warm grade
    before = float(np.mean([r["colour_G"] for r in start]))
    print(f"\n{'fine-tune':22s} {'s/step':>7s} {'colour G':>9s} {'full G':>7s} {'cycle L1':>9s}")
    print(f"{'(before: winter model)':22s} {'':>7s} {before:9.2f} {np.mean([r['full_G'] for r in start]):7.2f} "
          f"{np.mean([r['cycle_L1'] for r in start]):9.2f}")
    for freeze, (seconds, mean) in results.items():
        label = "all layers trained" if freeze == "none" else "early layers fixed"
        print(f"{label:22s} {seconds / args.fine_tune:7.3f} {mean['colour_G']:9.2f} {mean['full_G']:7.2f} "
              f"{mean['cycle_L1']:9.2f}")
    (all_s, all_m), (early_s, early_m) = results["none"], results["early"]
    print(f"\nfine_tune: {args.fine_tune} steps onto the warm grade (identity {all_m['colour_id']:.2f} dB colour); "
          f"all layers {all_m['colour_G']:.2f} dB colour / {all_m['full_G']:.2f} dB full in {all_s:.0f} s; "
          f"early layers fixed {early_m['colour_G']:.2f} / {early_m['full_G']:.2f} dB in {early_s:.0f} s "
          f"({all_s / early_s:.2f}× faster, {early_m['colour_G'] - all_m['colour_G']:+.2f} dB colour)")


if __name__ == "__main__":
    main()
