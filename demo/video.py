"""The Translate tab's video: a clip translated frame by frame at its size (within the app's bounds),
each shot with InstanceNorm statistics shared by its frames so the colours hold still
(`CycleGAN.translate_video`), its sound copied, with progress, the time left and Cancel.

`VideoHandlers` holds the event's handler (a generator, testable without a server); `build_video`
lays out the section and wires it to the tab's task list. What one clip may ask of the machine is
bounded by settings (docs/settings.md): its length, its frame size (larger frames are scaled down
to it; frames beyond 4K are refused) and its total work (frames × pixels); on a public Space the door's per-address budget of
translation work applies too (the event's concurrency id is the translations').
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import gradio as gr

from cyclegan_core import VideoError, probe_video

from .errors import error_box, visitor_message
from .outputs import named
from .progress import Worker, message_html, progress_html, time_left_text
from .zerogpu import on_device, on_gpu, video_seconds

if TYPE_CHECKING:  # the tab that builds this section
    from .translate_tab import TranslateHandlers

VIDEOS = Path(tempfile.gettempdir()) / "cyclegan-studio-videos"
KEEP_VIDEOS_SECONDS = 600  # Gradio copies a returned file into its own cache at once
DEFAULT_MAX_SECONDS = 20.0
DEFAULT_MAX_FRAME_PIXELS = 640 * 360
DEFAULT_MAX_WORK = 60_000_000  # frames × pixels: about a minute on two cores of the slower classes
DEFAULT_MAX_INPUT_PIXELS = 3840 * 2160  # a 4K frame: larger ones are refused before any is decoded
STATS = {"Per shot: steady colours": "shot", "Per frame: what frame-by-frame tools do (it flickers)": "frame"}
VIDEO_OUTPUTS = ("video", "info", "progress", "error", "cancel")


def _setting(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def max_video_seconds() -> float:
    """`CYCLEGAN_APP_MAX_VIDEO_SECONDS`: the longest clip the app translates (default 20 s)."""
    return _setting("CYCLEGAN_APP_MAX_VIDEO_SECONDS", DEFAULT_MAX_SECONDS)


def max_frame_pixels() -> int:
    """`CYCLEGAN_APP_MAX_VIDEO_FRAME_PIXELS`: larger frames are scaled down to this (default 640×360)."""
    return int(_setting("CYCLEGAN_APP_MAX_VIDEO_FRAME_PIXELS", DEFAULT_MAX_FRAME_PIXELS))


def max_video_work() -> int:
    """`CYCLEGAN_APP_MAX_VIDEO_WORK`: frames × pixels per frame one clip may ask for (default 60 M)."""
    return int(_setting("CYCLEGAN_APP_MAX_VIDEO_WORK", DEFAULT_MAX_WORK))


def max_input_pixels() -> int:
    """`CYCLEGAN_APP_MAX_VIDEO_INPUT_PIXELS`: clips with larger frames are refused (default 3840×2160):
    each frame is decoded whole before it is scaled down."""
    return int(_setting("CYCLEGAN_APP_MAX_VIDEO_INPUT_PIXELS", DEFAULT_MAX_INPUT_PIXELS))


def video_source(payload) -> str:
    """The uploaded clip's path from Gradio's payload (a Video's `{"video": file}` or a file), which the
    app's door has checked is a file Gradio received."""
    if isinstance(payload, dict) and isinstance(payload.get("video"), dict):
        payload = payload["video"]
    path = payload if isinstance(payload, str) else payload.get("path") if isinstance(payload, dict) else None
    if not path:
        raise gr.Error("Add a video first: drop one in or click to browse.", print_exception=False)
    return path


def fitted_frame(width: int, height: int, limit: int) -> tuple[int, int]:
    """A frame size of at most `limit` pixels, aspect kept, both sides even (H.264's 4:2:0 needs it)."""
    scale = min(1.0, (limit / (width * height)) ** 0.5)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def output_path(name: str) -> Path:
    """A fresh path for a translated clip; older ones are removed."""
    VIDEOS.mkdir(parents=True, exist_ok=True)
    for old in VIDEOS.iterdir():
        try:
            if old.stat().st_mtime < time.time() - KEEP_VIDEOS_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    folder = VIDEOS / uuid.uuid4().hex
    folder.mkdir()
    return folder / f"{name}.mp4"


class VideoHandlers:
    """The video event, over the Translate tab's handlers (its model cache, CPU share and the rule of
    which models a visitor may use)."""

    def __init__(self, translate: TranslateHandlers, clock: Callable[[], float] = time.monotonic,
                 poll_seconds: float = 0.5):
        self.translate = translate
        self.clock, self.poll_seconds = clock, poll_seconds

    def translate_video(self, payload, task_text: str, extra_tasks: list[dict] | None, token: str | None = None,
                        stats: str = next(iter(STATS))):
        """Streams VIDEO_OUTPUTS: the clip checked, then progress (frame, shot, time left), then the
        translated clip. Closing this generator (Cancel, the page gone) stops the work at its next frame,
        and nothing is left of the output. Failures are words in the error box."""
        try:
            yield from self.stages(payload, task_text, extra_tasks, token, stats)
        except Exception as e:  # noqa: BLE001 — every failure becomes words in the box
            yield named(VIDEO_OUTPUTS, error=gr.update(value=error_box(visitor_message(e, "translate"),
                                                                         "Could not translate the video"),
                                                       visible=True),
                        progress=gr.update(value="", visible=False), cancel=gr.update(visible=False))

    @staticmethod
    def gpu_seconds(payload, *rest) -> int:
        """The GPU loan a clip asks for on ZeroGPU (`zerogpu.on_gpu`), from its frames and their size."""
        try:
            info = probe_video(video_source(payload))
            size = fitted_frame(info.width, info.height, max_frame_pixels())
            work = info.frames * size[0] * size[1]
        except Exception:  # noqa: BLE001 — the translation itself says what is wrong with it
            work = None
        return video_seconds(work)

    def stages(self, payload, task_text, extra_tasks, token, stats):
        chosen = self.translate.parse_task(task_text, extra_tasks, token)
        source = video_source(payload)
        key = self.translate.usable(chosen.source, token)
        info = probe_video(source, max_pixels=max_input_pixels(), max_seconds=max_video_seconds())
        size = fitted_frame(info.width, info.height, max_frame_pixels())
        work = info.frames * size[0] * size[1]
        if work > max_video_work():
            text = (f"This clip has {info.frames} frames of {size[0]}×{size[1]}: {work / 1e6:.0f} million pixels to "
                    f"translate, and one clip may ask for at most {max_video_work() / 1e6:.0f} million here; a "
                    f"shorter clip, please.")
            raise VideoError(text, public=text)
        yield named(VIDEO_OUTPUTS, video=None, info="", error=gr.update(value="", visible=False),
                    progress=gr.update(value=message_html("Starting…"), visible=True), cancel=gr.update(visible=True))
        model = on_device(self.translate.cache.get(key))  # on ZeroGPU: to this call's GPU
        mode = STATS.get(stats, "shot")
        out = output_path(f"{Path(source).stem[:40] or 'clip'}-{chosen.direction}")
        seen = {"frame": 0, "frames": info.frames, "shot": 1, "left": None, "stage": "shots"}

        def work_on(progress):
            def heard(step):  # the core's per-frame report; raises once cancelled
                seen.update(frame=step.frame, frames=step.frames, shot=step.shot, left=step.seconds_left,
                            stage=step.stage)
                done = step.frame / max(1, step.frames)  # the first pass (shots) is the quick tenth
                progress(0.1 * done if step.stage == "shots" else 0.1 + 0.9 * done)
            with self.translate.share.job():
                return model.translate_video(source, chosen.direction, out, stats=mode, progress=heard,
                                             max_pixels=max_input_pixels(), max_seconds=max_video_seconds(),
                                             fit_pixels=max_frame_pixels())

        worker = Worker(work_on, self.clock).start()
        try:
            while not worker.wait(self.poll_seconds):
                title = (f"Finding the shots: frame {seen['frame']} of {seen['frames']}" if seen["stage"] == "shots"
                         else f"Frame {seen['frame']} of {seen['frames']} ({size[0]}×{size[1]}), shot {seen['shot']}")
                yield named(VIDEO_OUTPUTS, progress=gr.update(value=progress_html(
                    title, worker.fraction, time_left_text(seen["left"]))))
        finally:
            worker.cancel()  # closed early: the core stops at its next frame and leaves no file
        result = worker.result()
        sound = "sound copied" if result.audio else "no sound in the clip"
        note = (f" Frames scaled down from {info.width}×{info.height} (at most "
                f"{max_frame_pixels():,} pixels per frame here)." if (result.width, result.height) != (
                    info.width, info.height) else "")
        text = (f"**{model.describe(chosen.direction)}** · {result.frames} frames of {result.width}×{result.height} "
                f"at {result.fps:g} fps ({result.seconds:.1f} s) · {result.shots} shot(s), statistics "
                f"{'per shot' if mode == 'shot' else 'per frame'} · {sound} · translated in "
                f"{result.elapsed:.1f} s.{note}")
        yield named(VIDEO_OUTPUTS, video=str(result.path), info=text, progress=gr.update(value="", visible=False),
                    cancel=gr.update(visible=False))


def build_video(translate: TranslateHandlers, task: gr.Dropdown, extra: gr.State, visitor: gr.State) -> None:
    """The video section (in the Translate tab's Blocks context), wired to the tab's task list."""
    handlers = VideoHandlers(translate)
    with gr.Accordion("Video", open=False, elem_id="video-box"):
        gr.Markdown(f"Translate a clip (mp4, mov, webm, mkv or an animated gif) with the task above, its sound "
                    f"kept. Here a clip may last up to {max_video_seconds():g} s; frames larger than "
                    f"{max_frame_pixels():,} pixels are scaled down.", elem_id="video-about")
        with gr.Row(equal_height=False):
            with gr.Column(min_width=300):
                video_in = gr.Video(label="Your video", sources=["upload"], format=None, elem_id="input-video")
                stats = gr.Radio(list(STATS), value=next(iter(STATS)), label="InstanceNorm statistics",
                                 elem_id="video-stats",
                                 info="Per frame, the colours jump as things move (why CycleGAN videos flicker); "
                                      "per shot, the frames of a shot share them.")
                run = gr.Button("Translate video", variant="primary", elem_id="video-button")
            with gr.Column(min_width=300):
                error = gr.Markdown(visible=False, elem_id="video-error", elem_classes=["error-box"])
                with gr.Row(equal_height=False):
                    progress = gr.HTML(visible=False, elem_id="video-progress", container=True, padding=True,
                                       scale=1, min_width=220)
                    cancel = gr.Button("Cancel", variant="stop", size="md", visible=False, elem_id="video-cancel",
                                       scale=0, min_width=90)
                video_out = gr.Video(label="Translated video", format=None, interactive=False, elem_id="output-video")
                info = gr.Markdown(elem_id="video-info")
    by_name = {"video": video_out, "info": info, "progress": progress, "error": error, "cancel": cancel}
    on_page = on_gpu(handlers.translate_video, handlers.gpu_seconds)  # ZeroGPU: a GPU per clip
    shown = run.click(on_page, inputs=[video_in, task, extra, visitor, stats],
                      outputs=[by_name[name] for name in VIDEO_OUTPUTS], preprocess=False, show_progress="hidden",
                      api_name="translate_video", concurrency_limit=1, concurrency_id="translate")
    cancel.click(lambda: (gr.update(value=message_html("Cancelled: nothing was kept."), visible=True),
                          gr.update(visible=False)),
                 outputs=[progress, cancel], cancels=[shown], api_visibility="private", queue=False)
