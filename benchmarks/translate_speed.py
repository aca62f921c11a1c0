"""Translation speed and memory: the reference way (eager fp32, whole image) against our default
path (`model.translate_tensor`, precision "auto", tiles above the whole-image limit), in ONE
process, on the paper's 9-block generator.

For each size: seconds/image, images/s, speed ratio, peak RSS growth, PSNR of our output against
the fp32 whole-image output, and for tiled sizes the seam metric (mean |error| on tile-boundary
columns ÷ mean |error| elsewhere; 1.0 means no seam). The eager baseline is skipped where a
whole-image pass would not fit the memory budget (it is what tiling exists for).

    python benchmarks/translate_speed.py [--sizes 256 1024 4096] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cyclegan_core import CycleGAN, ModelConfig  # noqa: E402
from cyclegan_core.inference import resolve_precision, run_generator, whole_image_pixels  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeats: int, warm_up: bool = True):
    if warm_up:
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    return (time.perf_counter() - start) / repeats, out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) * 127.5).pow(2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def trained_or_random() -> tuple[CycleGAN, str]:
    """A real trained 9-block generator where available (random weights exaggerate statistics
    errors: the residual stack amplifies them), else the official architecture at random."""
    import importlib.util
    spec = importlib.util.find_spec("vintagify")
    if spec and spec.submodule_search_locations:
        import tempfile
        from cyclegan_core import convert_official
        path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "G_A2B_epoch33.pth"
        return convert_official(path, path, Path(tempfile.mkdtemp()) / "m"), "trained (vintagify, 9 blocks)"
    torch.manual_seed(0)
    return CycleGAN(ModelConfig()), "random (install requirements-dev.txt for trained weights)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-max-pixels", type=int, default=2048 * 2048,
                        help="largest image the eager baseline is run on (memory)")
    args = parser.parse_args()
    model, weights = trained_or_random()
    from skimage import data
    photo = Image.fromarray(data.astronaut())
    auto = resolve_precision("auto", torch.device("cpu"))
    print(f"weights: {weights}")
    print(f"default path: precision {auto}, whole image up to {whole_image_pixels() / 1e6:.1f} MP, tiles above")
    print(f"{'size':>6s} {'base s':>8s} {'ours s':>8s} {'img/s':>7s} {'ratio':>6s} {'PSNR':>7s} {'seam':>6s} "
          f"{'peak RSS':>9s}")
    summary = []
    for size in args.sizes:
        x = torch.from_numpy(np.array(photo.resize((size, size), Image.Resampling.BICUBIC))).permute(2, 0, 1)
        x = x.unsqueeze(0).float().div(127.5).sub(1)
        repeats = args.repeats if size <= 1024 else 1
        small = size <= 1024  # large sizes: one timed run, no warm-up (minutes each on 2 cores)
        ours_s, ours = timed(lambda: model.translate_tensor(x, "AtoB"), repeats, warm_up=small)
        base_s, base, ratio, quality, seam = None, None, float("nan"), float("nan"), float("nan")
        if size * size <= args.baseline_max_pixels:
            base_s, base = timed(lambda: run_generator(model.G_AB, x, "fp32"), repeats, warm_up=small)
            ratio, quality = base_s / ours_s, psnr(ours, base)
            if size * size > whole_image_pixels():
                error = (ours - base).abs().mean(dim=(0, 1))
                cols = torch.zeros(size, dtype=torch.bool)
                for start in range(448, size, 448):  # default tiles: 512 with 64 overlap
                    cols[start:start + 64] = True
                seam = float(error[:, cols].mean() / error[:, ~cols].mean())
        base_text = f"{base_s:8.2f}" if base_s else f"{'—':>8s}"
        print(f"{size:6d} {base_text} {ours_s:8.2f} {1 / ours_s:7.2f} {ratio:6.2f} {quality:7.2f} {seam:6.2f} "
              f"{peak_rss_mb():8.0f}M", flush=True)
        summary.append(f"{size}²: {ours_s:.2f} s" + (f" ({ratio:.2f}× baseline, {quality:.1f} dB)" if base_s else ""))
    print(f"\ntranslate_speed: precision {auto}; " + "; ".join(summary) + f"; peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
