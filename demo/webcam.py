"""The Translate tab's webcam, live: each frame of the visitor's camera translated with the task above, at
a size that keeps up. On this device (the default where the browser path is on), `device.js` runs the
generator's live graph in the browser and the frames never leave it; on the server, the camera streams
frames here and this module translates them.

Each page's stream has its own `LiveTranslator` (`CycleGAN.live_translator`): while the view is steady
its frames share InstanceNorm statistics (locked after the first frames of a shot), so the colours do
not flicker; a sudden change of view starts a new shot. The frame size follows the measured time per
frame: it shrinks when a frame takes longer than `FRAME_SECONDS`, grows back when there is room, and
the page says the frame rate it reaches. A stream lasts at most `STREAM_SECONDS` of server time and one
runs at a time (the event's concurrency), so a class takes turns; its time counts as the visitor's
translation work (the door's per-address budget).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import TYPE_CHECKING, Callable

import gradio as gr
import numpy as np
from PIL import Image

from .device import WHERE_DEVICE, WHERE_SERVER, DeviceModels, max_device_pixels
from .errors import visitor_message

if TYPE_CHECKING:  # the tab that builds this section
    from .translate_tab import TranslateHandlers

FRAME_SECONDS = 0.25  # what one frame may take: about four frames a second
START_SIDE, MIN_SIDE, MAX_SIDE = 256, 96, 640  # the translated frame's longer side, in pixels
STREAM_SECONDS = 60  # one visitor's stream, in server time
STREAM_EVERY = 0.2  # how often the page sends a frame
KEEP_STREAMS = 8  # pages whose live state is kept (the oldest is dropped)


def frame_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is `side` (never up), both a multiple of 4."""
    scale = min(1.0, side / max(width, height))
    return max(8, int(width * scale) // 4 * 4), max(8, int(height * scale) // 4 * 4)


def next_side(side: int, seconds: float) -> int:
    """The next frame's longer side after one took `seconds` at `side`: a pass's time grows with the
    pixels (the side squared), so aim at `FRAME_SECONDS`, moving at most 25 % a frame."""
    if seconds <= 0:
        return side
    wanted = min(max(side * (FRAME_SECONDS / seconds) ** 0.5, side * 0.75), side * 1.25)
    return int(min(MAX_SIDE, max(MIN_SIDE, wanted)))


class LiveStream:
    """One page's stream: its translator (for one model and direction), the frame side and the recent
    frame times."""

    def __init__(self, key: tuple[str, str], translator):
        self.key, self.translator = key, translator
        self.side = START_SIDE
        self.times: collections.deque[float] = collections.deque(maxlen=10)  # when frames were done
        self.seconds: collections.deque[float] = collections.deque(maxlen=10)  # what each took

    def fps(self) -> float | None:
        if len(self.times) < 2:
            return None
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else None


class WebcamHandlers:
    """The stream's handler over the Translate tab's handlers (model cache, CPU share, who may use
    what); the live state of the last `KEEP_STREAMS` pages, by session."""

    def __init__(self, translate: TranslateHandlers, clock: Callable[[], float] = time.perf_counter):
        self.translate, self.clock = translate, clock
        self.streams: collections.OrderedDict[str, LiveStream] = collections.OrderedDict()
        self._lock = threading.Lock()

    def stream_for(self, session: str, key: tuple[str, str], make: Callable[[], object]) -> LiveStream:
        with self._lock:
            found = self.streams.get(session)
            if found is None or found.key != key:  # a new page, or another task: a fresh translator
                found = self.streams[session] = LiveStream(key, make())
            self.streams.move_to_end(session)
            while len(self.streams) > KEEP_STREAMS:
                self.streams.popitem(last=False)
            return found

    def live(self, frame, task_text: str, extra_tasks: list[dict] | None, token: str | None = None,
             request: gr.Request = None):
        """One camera frame → (the translated frame, a line on the speed). A problem is said in the line."""
        if frame is None:
            return gr.skip(), gr.skip()
        try:
            chosen = self.translate.parse_task(task_text, extra_tasks, token)
            key = self.translate.usable(chosen.source, token)
            model = self.translate.cache.get(key)
            session = getattr(request, "session_hash", None) or "api"
            stream = self.stream_for(session, (key, chosen.direction),
                                     lambda: model.live_translator(chosen.direction))
            picture = Image.fromarray(np.asarray(frame)[..., :3]) if not isinstance(frame, Image.Image) else frame
            size = frame_size(*picture.size, stream.side)
            small = picture.convert("RGB").resize(size, Image.Resampling.BILINEAR)
            start = self.clock()
            with self.translate.share.job():
                translated = stream.translator.translate(small)
            done = self.clock()
            stream.seconds.append(done - start)
            stream.times.append(done)
            stream.side = next_side(stream.side, done - start)
        except Exception as e:  # noqa: BLE001 — said beside the picture; the stream goes on
            return gr.skip(), f"**Could not translate the camera's frame:** {visitor_message(e, 'translate')}"
        fps = stream.fps()
        rate = f"{fps:.1f} frames/s" if fps else "measuring the frame rate…"
        return translated, (f"Live: **{rate}** at {size[0]}×{size[1]} ({(done - start) * 1000:.0f} ms a frame) · "
                            f"shot {stream.translator.shots}: statistics locked while the view is steady")


def build_webcam(translate: TranslateHandlers, task: gr.Dropdown, extra: gr.State, visitor: gr.State) -> None:
    """The webcam section (in the Translate tab's Blocks context), wired to the tab's task list: on this
    device (the camera's frames stay in the browser: `device.js`'s `startWebcam` with the generator's
    live graph) or on the server (the frames stream here: `WebcamHandlers.live`)."""
    handlers, models = WebcamHandlers(translate), DeviceModels(translate)
    on_device = bool(max_device_pixels())
    with gr.Accordion("Webcam, live", open=False, elem_id="webcam-box"):
        gr.Markdown(f"Your camera's view, translated live with the task above at a size that keeps up (about "
                    f"{1 / FRAME_SECONDS:g} frames a second): in your browser, or on the server (a stream there "
                    f"lasts up to {STREAM_SECONDS} s, one at a time).", elem_id="webcam-about")
        where = gr.Radio([WHERE_DEVICE, WHERE_SERVER], value=WHERE_DEVICE if on_device else WHERE_SERVER,
                         label="Where it runs", elem_id="webcam-where", interactive=on_device)
        with gr.Column(visible=on_device, elem_id="webcam-device-view") as device_view:
            with gr.Row():
                start = gr.Button("Start the camera", variant="primary", elem_id="webcam-device-start")
                stop = gr.Button("Stop", elem_id="webcam-device-stop")
            message = gr.Markdown(elem_id="webcam-device-message")
            gr.HTML("", elem_id="webcam-device-html")  # device.js draws the translated frames here
        with gr.Row(equal_height=False, visible=not on_device, elem_id="webcam-server-view") as server_view:
            camera = gr.Image(label="Your camera", sources=["webcam"], streaming=True, type="numpy",
                              webcam_options=gr.WebcamOptions(mirror=True, constraints={
                                  "video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}),
                              elem_id="webcam-in", min_width=300)
            with gr.Column(min_width=300):
                live_out = gr.Image(label="Translated, live", type="pil", format="jpeg", interactive=False,
                                    elem_id="webcam-out")
                live_info = gr.Markdown(elem_id="webcam-info")
        model_file = gr.File(visible="hidden", elem_id="webcam-model")
        model_info = gr.JSON(visible="hidden", elem_id="webcam-model-info")
    where.change(lambda chosen: (gr.update(visible=chosen == WHERE_DEVICE), gr.update(visible=chosen != WHERE_DEVICE)),
                 inputs=where, outputs=[device_view, server_view], api_visibility="private", queue=False,
                 js="(chosen) => { window.cycleganDevice && window.cycleganDevice.stopWebcam(); return chosen; }")
    fetched = start.click(models.live_model_on_page, inputs=[task, extra, visitor],
                          outputs=[model_file, model_info, message], show_progress="hidden",
                          api_visibility="private", concurrency_limit=2, concurrency_id="device-model")
    fetched.then(None, inputs=[model_file, model_info], js="(file, info) => window.cycleganDevice.startWebcam(file, info)")
    stop.click(None, js="() => window.cycleganDevice.stopWebcam()")
    camera.stream(handlers.live, inputs=[camera, task, extra, visitor], outputs=[live_out, live_info],
                  stream_every=STREAM_EVERY, time_limit=STREAM_SECONDS, concurrency_limit=1,
                  concurrency_id="webcam", api_visibility="private", show_progress="hidden")
