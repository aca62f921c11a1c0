"""OpenVINO int8: what post-training quantisation (NNCF) of the generator gives on this CPU, in speed
and in quality on real photos, against OpenVINO's bf16 pass (our default where the CPU has native
bf16) and the reference way's fp32 pixels.

The paper's 9-block generator with trained weights (vintagify's, as in `translate_speed.py`) is
written as ONNX (`cyclegan_core.export`), read by OpenVINO and quantised by `nncf.quantize` with
calibration images: crops of scikit-image's photos (coffee, a cat, coins, textures…), never the
photos it is then judged on (astronaut, a camera man, a rocket: held out). The int8 model
runs its quantised convolutions in int8 (VNNI / AMX-INT8 where the CPU has them) and the rest in
OpenVINO's default precision; `--fp32-rest` asks for fp32 there instead.

    python benchmarks/openvino_int8.py [--sizes 256 1024] [--rounds 5] [--calibration 24] [--fp32-rest]

Needs `nncf` (not a requirement of the app: `pip install nncf` in a separate environment is enough,
it leaves torch alone). Prints, per size: seconds (median of rounds, order shuffled), speed against
OpenVINO's bf16 pass and against the reference way (eager fp32), PSNR against fp32 on each held-out
photo (min and mean), and the CPU class.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cyclegan_core.engine.runtime import cpu_class  # noqa: E402
from cyclegan_core.engine.translation import translate_whole  # noqa: E402
from cyclegan_core.export import to_onnx  # noqa: E402

CALIBRATION = ("coffee", "chelsea", "coins", "immunohistochemistry", "hubble_deep_field", "retina", "brick",
               "grass", "gravel", "clock", "colorwheel", "moon")
HELD_OUT = ("astronaut", "camera", "rocket")


def photo(name: str, size: int, crop: int | None = None, seed: int = 0) -> np.ndarray:
    """A scikit-image photo as 1×3×size×size in [-1, 1] (a random `crop` of it first, if given)."""
    from skimage import data
    array = getattr(data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    picture = Image.fromarray(array[..., :3].astype(np.uint8))
    if crop is not None and min(picture.size) > crop:
        rng = random.Random(seed)
        left, top = rng.randrange(picture.width - crop), rng.randrange(picture.height - crop)
        picture = picture.crop((left, top, left + crop, top + crop))
    picture = picture.resize((size, size), Image.Resampling.BICUBIC)
    return (np.asarray(picture, dtype=np.float32).transpose(2, 0, 1)[None] / 127.5 - 1).copy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float((((a - b) * 127.5) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calibration", type=int, default=24, help="calibration images (crops at 256²)")
    parser.add_argument("--fp32-rest", action="store_true", help="run what is not quantised in fp32")
    args = parser.parse_args()

    import nncf
    import openvino
    from translate_speed import trained_or_random

    model, weights = trained_or_random()
    generator = model.generator("AtoB").eval()
    threads = torch.get_num_threads()
    onnx_path = Path(__file__).resolve().parent / ".openvino_int8_generator.onnx"
    to_onnx(model, "AtoB", "fp32", onnx_path)
    core = openvino.Core()
    float_model = core.read_model(str(onnx_path))
    calibration = [photo(CALIBRATION[i % len(CALIBRATION)], 256, crop=256 + 64 * (i % 5), seed=i)
                   for i in range(args.calibration)]
    started = time.perf_counter()
    quantised = nncf.quantize(float_model, nncf.Dataset(calibration), subset_size=len(calibration))
    quantise_s = time.perf_counter() - started
    onnx_path.unlink(missing_ok=True)
    base = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    rest = "f32" if args.fp32_rest else "bf16"
    compiled = {"ov·bf16": core.compile_model(float_model, "CPU", {**base, "INFERENCE_PRECISION_HINT": "bf16"}),
                f"ov·int8 (+{rest})": core.compile_model(quantised, "CPU", {**base, "INFERENCE_PRECISION_HINT": rest})}
    print(f"machine: {cpu_class()}, {threads} threads; weights: {weights}; OpenVINO {openvino.__version__}, "
          f"NNCF {nncf.__version__}; {len(calibration)} calibration crops, quantised in {quantise_s:.1f} s")
    print(f"{'size':>6} {'run':>16} {'s/img':>8} {'× ov·bf16':>10} {'× fp32':>8} {'PSNR min':>9} {'PSNR mean':>10}")
    for size in args.sizes:
        held = {name: photo(name, size) for name in HELD_OUT}
        with torch.inference_mode():
            reference = {name: translate_whole(generator, torch.from_numpy(x), "fp32").numpy()
                         for name, x in held.items()}
        requests = {label: c.create_infer_request() for label, c in compiled.items()}
        x = held["astronaut"]
        times: dict[str, list[float]] = {label: [] for label in ["fp32 (reference way)", *requests]}
        for label, request in requests.items():
            request.infer({0: x})  # a first pass allocates
        for _ in range(args.rounds):
            order = list(times)
            random.shuffle(order)
            for label in order:
                started = time.perf_counter()
                if label in requests:
                    requests[label].infer({0: x})
                else:
                    with torch.inference_mode():
                        translate_whole(generator, torch.from_numpy(x), "fp32")
                times[label].append(time.perf_counter() - started)
        medians = {label: statistics.median(t) for label, t in times.items()}
        for label, seconds in medians.items():
            if label in requests:
                scores = [psnr(requests[label].infer({0: held[name]})[0], reference[name]) for name in held]
                quality = f"{min(scores):9.1f} {statistics.mean(scores):10.1f}"
            else:
                quality = f"{'—':>9} {'—':>10}"
            print(f"{size:>6} {label:>16} {seconds:8.3f} {medians['ov·bf16'] / seconds:10.2f} "
                  f"{medians['fp32 (reference way)'] / seconds:8.2f} {quality}")


if __name__ == "__main__":
    main()
