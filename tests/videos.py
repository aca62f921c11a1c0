"""Clips made for tests with PyAV: a slow pan over a real photo (scikit-image's astronaut), then the
view held still, with a sine tone as its sound."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def pan_clip(path: Path, size: tuple[int, int] = (96, 64), pan_frames: int = 16, still_frames: int = 8,
             fps: int = 12, step: int = 2, tone: bool = True) -> Path:
    """An H.264 .mp4 (AAC sound when `tone`): the window of `size` moves `step` px right per frame over
    the photo for `pan_frames` frames, then stays for `still_frames`."""
    from skimage import data
    photo = data.astronaut()
    width, height = size
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=22050) if tone else None
        if audio is not None:
            audio.layout = "mono"
        frames = pan_frames + still_frames
        for i in range(frames):
            x = 40 + step * min(i, pan_frames - 1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(photo[100:100 + height, x:x + width]),
                                               format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            samples = int(22050 * frames / fps)
            t = np.arange(samples) / 22050
            wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(wave[None, start:start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 22050, start, Fraction(1, 22050)
                for packet in audio.encode(chunk):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))
