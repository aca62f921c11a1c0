"""Video translation: frames per second, and the flicker figure (shot vs frame statistics).

- **Speed.** A pan clip over a real photo (scikit-image's astronaut, upscaled to cover the frame)
  with a 440 Hz tone, at 256², 512² and 1920×1080, translated end to end by `model.translate_video`
  (both decodes, the shots' statistics, every frame, H.264 encoding, the sound copied), with shot
  statistics and the default precision; frames per second = frames / the whole call's seconds. Frame
  statistics (each frame its own, on the picture paths: OpenVINO where it runs) beside it.
- **Live.** `model.live_translator` (a webcam's path) at 4:3 sizes, statistics locked.
- **Flicker.** A slow pan (4 px per frame, the generator's stride, so the motion can be undone
  exactly) at 256²: the mean absolute change between consecutive translated frames after shifting
  one back by the pan, 16 px inside the borders, in levels of 255, with shot and with frame statistics.

The paper's 9-block generator, with trained weights where vintagify is installed (its modern →
vintage generator), else random ones (the speed is the same; the flicker figure then says less).

    python benchmarks/video_speed.py [--sizes 256 512 1080] [--frames 24 12 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cyclegan_core import CycleGAN, ModelConfig, convert_official  # noqa: E402
from cyclegan_core.engine.runtime import configure_threads, cpu_class, resolve_precision  # noqa: E402
from cyclegan_core.engine.webcam import frames_per_second  # noqa: E402

SIZES = {256: (256, 256), 512: (512, 512), 1080: (1920, 1080)}
STEP, MARGIN, FPS = 4, 16, 24


def model_and_weights() -> tuple[CycleGAN, str]:
    spec = importlib.util.find_spec("vintagify")
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "G_A2B_epoch33.pth"
        return convert_official(path, None, Path(tempfile.mkdtemp()) / "m"), "trained (vintagify, 9 blocks)"
    torch.manual_seed(0)
    return CycleGAN(ModelConfig()), "random (9 blocks; install requirements.txt for trained weights)"


def pan_clip(path: Path, width: int, height: int, frames: int) -> Path:
    """`frames` frames panning STEP px per frame over the astronaut (upscaled to cover), with a tone."""
    from skimage import data
    photo = Image.fromarray(data.astronaut())
    scale = max((width + STEP * frames) / photo.width, height / photo.height, 1.0)
    photo = np.asarray(photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS))
    top = (photo.shape[0] - height) // 2
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "12"}
        sound = out.add_stream("aac", rate=44100)
        sound.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(photo[top:top + height, STEP * i:STEP * i + width]),
                                               format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(frames * 44100 // FPS) / 44100)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = 44100, start
            out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))
    return path


def flicker(path: Path) -> float:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.float64) for f in container.decode(video=0)]
    m = MARGIN
    return float(np.mean([np.abs(b[m:-m, m:-m - STEP] - a[m:-m, m + STEP:-m]).mean() for a, b in zip(frames, frames[1:])]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1080], choices=sorted(SIZES))
    parser.add_argument("--frames", type=int, nargs="+", default=[24, 12, 4], help="frames per size, in order")
    parser.add_argument("--flicker-frames", type=int, default=24)
    args = parser.parse_args()
    threads = configure_threads()
    model, weights = model_and_weights()
    precision = resolve_precision("auto", model.device)
    folder = Path(tempfile.mkdtemp())
    model.warm_up().join()
    print(f"CPU: {cpu_class()} · {threads} threads · {weights} · default precision → {precision}")
    print(f"{'size':>10} {'frames':>6} {'shot fps':>9} {'frame fps':>10} {'s/frame (shot)':>15}")
    for size, frames in zip(args.sizes, args.frames):
        width, height = SIZES[size]
        clip = pan_clip(folder / f"pan{size}.mp4", width, height, frames)
        speed = {}
        for stats in ("shot", "frame"):
            result = model.translate_video(clip, "AtoB", folder / f"{stats}{size}.mp4", stats=stats)
            speed[stats] = result.frames / result.elapsed
        print(f"{width}×{height:<5} {frames:>6} {speed['shot']:>9.2f} {speed['frame']:>10.2f} "
              f"{1 / speed['shot']:>15.2f}")
    for width, height in ((320, 240), (640, 480)):
        live = model.live_translator("AtoB")
        picture = Image.fromarray(np.full((height, width, 3), 128, np.uint8))
        print(f"live {width}×{height}: {frames_per_second(live, picture):.1f} frames/s (statistics locked)")
    clip = pan_clip(folder / "flicker.mp4", 256, 256, args.flicker_frames)
    measured = {stats: flicker(model.translate_video(clip, "AtoB", folder / f"f-{stats}.mp4", stats=stats).path)
                for stats in ("shot", "frame")}
    print(f"flicker at 256², {STEP} px/frame pan, {args.flicker_frames} frames (mean |Δ| of 255, motion undone, "
          f"{MARGIN} px inside): input {flicker(clip):.2f}, shot {measured['shot']:.2f}, frame {measured['frame']:.2f} "
          f"(frame/shot {measured['frame'] / measured['shot']:.1f}×)")


if __name__ == "__main__":
    main()
