"""Video files in and out with PyAV (FFmpeg): probe, decode frame by frame, encode, copy the sound.

Nothing here knows about generators: `video_translation.py` decodes frames through here, translates
them and hands them back to a `VideoWriter`. Frames stream one at a time, so memory does not grow
with the clip's length.

- **In**: whatever FFmpeg reads in `.mp4`, `.mov`, `.webm`, `.mkv` and animated `.gif` files
  (`VIDEO_SUFFIXES`). `probe_video` checks a file before any work and says plainly what is wrong
  with it (`VideoError`): not a video, audio only, no frames, truncated, too many pixels per frame,
  too long.
- **Out**: H.264 (libx264, yuv420p, CRF 18) in `.mp4`, `.mov` and `.mkv`, VP9 (libvpx-vp9, CRF 31)
  in `.webm`, at the input's frame timestamps (so its frame rate, frame count and duration). An odd
  width or height loses its last column or row: 4:2:0 H.264 needs even sizes.
- **Sound**: the input's audio packets are copied untouched (remuxed, not re-encoded) where the output
  container can hold their codec; otherwise (say Opus or AAC into `.webm`'s Vorbis/Opus-only world)
  they are decoded and re-encoded (AAC, or Opus in `.webm`), and the writer says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from cyclegan_core.errors import VideoError

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".gif")
OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")
H264_CRF, VP9_CRF = 18, 31  # visually transparent for H.264; VP9's scale runs higher for the same quality
# Audio codecs each container takes as they are (copied); anything else is re-encoded to the second column.
COPIED_AUDIO = {
    ".mp4": {"aac", "mp3", "opus", "flac", "alac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be", "pcm_s24le"},
    ".mkv": {"aac", "mp3", "opus", "vorbis", "flac", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    ".webm": {"opus", "vorbis"},
}
AUDIO_FOR_CONTAINER = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}
FFMPEG_ERRORS = (av.error.FFmpegError, ValueError, IndexError)  # what PyAV raises on a damaged file


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` found: size per frame, frame count, frame rate, duration and codecs."""

    width: int
    height: int
    frames: int
    fps: float
    seconds: float
    video_codec: str
    audio_codec: str | None


def is_video(path) -> bool:
    """A file to translate as a video: by its suffix, except `.gif`, which is a video when it has more
    than one frame (a one-frame GIF is a picture)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        return False
    if suffix != ".gif":
        return True
    try:
        with Image.open(path) as image:
            return image.format == "GIF" and image.n_frames > 1
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False  # not a GIF that opens: the picture's own reading says what is wrong with it


def probe_video(path, max_pixels: int | None = None, max_seconds: float | None = None) -> VideoInfo:
    """Check a video before any work: readable, a video stream with frames, not truncated, within
    `max_pixels` per frame and `max_seconds`. The frames are counted by reading the stream's packets
    (not decoding them: fast), so a header that promises more frames than the file holds is caught."""
    path = Path(path)
    with open_video(path) as container:
        stream = video_stream(container, path)
        width, height = stream.codec_context.width, stream.codec_context.height
        if width < 1 or height < 1:
            raise _error(path, "has a video stream without a frame size", "the video has no frame size")
        if max_pixels is not None and width * height > max_pixels:
            raise _error(path, f"is {width}×{height} per frame; at most {max_pixels:,} pixels per frame here",
                         f"the video is {width}×{height} per frame; at most {max_pixels:,} pixels per frame here")
        seconds = _header_seconds(container, stream)
        _check_seconds(path, seconds, max_seconds)
        frames, last_end = _count_frames(container, stream, path)
        if frames == 0:
            raise _error(path, "has no frames", "the video has no frames")
        if stream.frames and frames < stream.frames:
            raise _error(path, f"is truncated: its header promises {stream.frames} frames, {frames} are there",
                         "the video file is truncated (cut short)")
        if not seconds and last_end is not None:
            seconds = float(last_end * stream.time_base)
        _check_seconds(path, seconds, max_seconds)
        fps = float(stream.average_rate or stream.guessed_rate or 0) or (frames / seconds if seconds else 0.0)
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return VideoInfo(width, height, frames, fps, seconds, stream.codec_context.name, audio)


def open_video(path: Path) -> av.container.InputContainer:
    """The file opened for reading, or a `VideoError` that says why it cannot be."""
    if not path.is_file():
        raise _error(path, "does not exist", "the video file is missing")
    try:
        return av.open(str(path), "r")
    except FFMPEG_ERRORS as e:
        raise _error(path, f"is not a video file PyAV can read ({_reason(e)}); it may be truncated or corrupt",
                     "the file is not a video that can be read (it may be truncated or corrupt)") from None


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    if container.streams.video:
        return container.streams.video[0]
    if container.streams.audio:
        raise _error(path, "has no video stream (it holds audio only)", "the file holds audio only, no video")
    raise _error(path, "has no video stream", "the file has no video stream")


def decode_frames(path: Path, on_audio: Callable[[av.Packet], None] | None = None) -> Iterator[av.VideoFrame]:
    """The video's frames in display order, decoded one at a time. With `on_audio`, the first audio
    stream's packets are handed to it as they come in the file (interleaved with the frames), for a
    writer that copies them; damaged data is a `VideoError` that names the frame it reached."""
    with open_video(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        audio = container.streams.audio[0] if on_audio is not None and container.streams.audio else None
        count = 0
        try:
            for packet in container.demux(*[s for s in (stream, audio) if s is not None]):
                if packet.stream is audio:
                    if packet.size:
                        on_audio(packet)
                    continue
                for frame in packet.decode():
                    count += 1
                    yield frame
        except FFMPEG_ERRORS as e:
            raise _error(path, f"is damaged at frame {count + 1} ({_reason(e)})",
                         "the video file is damaged (it may be truncated)") from None


def frame_pixels(frame: av.VideoFrame, width: int | None = None, height: int | None = None,
                 gray: bool = False) -> np.ndarray:
    """A frame as an H×W×3 uint8 RGB array (or H×W grey), resized by FFmpeg's area filter when a size
    is given (the way to make thumbnails without decoding to full size twice)."""
    if width or height:
        frame = frame.reformat(width=width, height=height, format="gray" if gray else "rgb24", interpolation="AREA")
        return frame.to_ndarray()
    return frame.to_ndarray(format="gray" if gray else "rgb24")


def output_size(width: int, height: int, suffix: str) -> tuple[int, int]:
    """The size written: H.264 in 4:2:0 needs even sizes, so an odd side loses its last pixel there."""
    if suffix == ".webm":
        return width, height
    return max(2, width - width % 2), max(2, height - height % 2)


class VideoWriter:
    """An output video at `path` (`suffix`, by default the path's, picks the container and codecs:
    `OUTPUT_SUFFIXES`), with the timing of `source`'s video stream and, where `source` has one, its
    first audio stream: copied packet for packet where the container takes the codec, else re-encoded
    (`audio_reencoded`)."""

    def __init__(self, path: Path, source: Path, width: int, height: int, suffix: str | None = None):
        self.suffix = (suffix or path.suffix).lower()
        if self.suffix not in OUTPUT_SUFFIXES:
            raise VideoError(f"{path.name}: a video is written as {', '.join(OUTPUT_SUFFIXES)}; "
                             f"choose one of those suffixes", public="choose .mp4, .mov, .mkv or .webm for the video")
        self.width, self.height = output_size(width, height, self.suffix)
        with open_video(source) as container:
            stream = video_stream(container, source)
            self.time_base = stream.time_base or Fraction(1, 1000)
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            audio_in = container.streams.audio[0] if container.streams.audio else None
            self.out = av.open(str(path), "w", format={".mkv": "matroska", ".mov": "mov", ".mp4": "mp4",
                                                        ".webm": "webm"}[self.suffix])
            try:
                self.video = self.add_video_stream(Fraction(rate).limit_denominator(100000))
                self.audio, self.audio_in, self.resampler = None, None, None
                self.audio_reencoded = False
                if audio_in is not None:
                    self.add_audio_stream(audio_in)
            except BaseException:
                self.out.close()
                raise
        self.frames = 0

    def add_video_stream(self, rate: Fraction) -> av.video.stream.VideoStream:
        if self.suffix == ".webm":
            stream = self.out.add_stream("libvpx-vp9", rate=rate)
            stream.options = {"crf": str(VP9_CRF), "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
        else:
            stream = self.out.add_stream("libx264", rate=rate)
            stream.options = {"crf": str(H264_CRF), "preset": "medium"}
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.codec_context.time_base = self.time_base
        stream.time_base = self.time_base
        return stream

    def add_audio_stream(self, audio_in: av.audio.stream.AudioStream) -> None:
        """Copy the codec where the container takes it; else decode and re-encode."""
        if audio_in.codec_context.name in COPIED_AUDIO[self.suffix]:
            self.audio = self.out.add_stream_from_template(audio_in)
            return
        self.audio_in = audio_in
        codec = AUDIO_FOR_CONTAINER[self.suffix]
        rate = 48000 if codec == "libopus" else audio_in.codec_context.sample_rate
        self.audio = self.out.add_stream(codec, rate=rate)
        self.audio.layout = "stereo" if audio_in.codec_context.layout.nb_channels > 1 else "mono"
        self.resampler = av.AudioResampler(format=self.audio.codec_context.codec.audio_formats[0].name,
                                           layout=self.audio.layout.name, rate=rate)
        self.audio_reencoded = True

    def write_audio(self, packet: av.Packet) -> None:
        """One of the source's audio packets: copied, or decoded and re-encoded."""
        if not self.audio_reencoded:
            packet.stream = self.audio
            self.out.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None  # the resampler and encoder count samples from the start
            for resampled in self.resampler.resample(frame):
                self.out.mux(self.audio.encode(resampled))

    def write(self, pixels: np.ndarray, source: av.VideoFrame) -> None:
        """One translated H×W×3 uint8 frame, at `source`'s timestamp and duration."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels[: self.height, : self.width]), format="rgb24")
        frame.pts = source.pts if source.pts is not None else self.frames
        frame.time_base = self.time_base
        if source.duration:
            frame.duration = source.duration
        self.out.mux(self.video.encode(frame))
        self.frames += 1

    def close(self) -> None:
        """Flush the encoders and finish the file."""
        try:
            self.out.mux(self.video.encode(None))
            if self.audio_reencoded:
                for resampled in self.resampler.resample(None):
                    self.out.mux(self.audio.encode(resampled))
                self.out.mux(self.audio.encode(None))
        finally:
            self.out.close()

    def abandon(self) -> None:
        """Close without flushing (the file is deleted by the caller)."""
        try:
            self.out.close()
        except FFMPEG_ERRORS:
            pass


def _count_frames(container: av.container.InputContainer, stream, path: Path) -> tuple[int, int | None]:
    """(video packets with data, the end of the last one in the stream's time base or None)."""
    count, last_end = 0, None
    try:
        for packet in container.demux(stream):
            if packet.size:
                count += 1
                if packet.pts is not None:
                    end = packet.pts + (packet.duration or 0)
                    last_end = end if last_end is None else max(last_end, end)
    except FFMPEG_ERRORS as e:
        if count == 0:
            raise _error(path, f"is damaged ({_reason(e)})", "the video file is damaged") from None
        raise _error(path, f"is truncated or damaged after {count} frames ({_reason(e)})",
                     "the video file is truncated or damaged") from None
    return count, last_end


def _header_seconds(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _check_seconds(path: Path, seconds: float, max_seconds: float | None) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise _error(path, f"lasts {math.ceil(seconds)} s; at most {max_seconds:g} s here",
                     f"the video lasts {math.ceil(seconds)} s; at most {max_seconds:g} s here")


def _reason(error: Exception) -> str:
    if isinstance(error, av.error.FFmpegError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _error(path: Path, problem: str, public: str) -> VideoError:
    """`clip.mp4 <problem>` for the person running the code; a visitor reads `public` (no path)."""
    return VideoError(f"{path.name} {problem}", public=public[0].upper() + public[1:] + ".")
