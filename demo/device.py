"""Translate on the visitor's own device: the Translate tab's browser path (onnxruntime-web).

A class of 30 on a free Space shares two server cores; each student's laptop or phone has a CPU and
often a GPU of its own. So, where the browser can, the page translates there: the server sends the
model once as an ONNX file (`cyclegan_core.export.exported`: fp16 where it keeps ≥ 40 dB against our
fp32, else fp32), which the browser keeps under the SHA-256 of its bytes, and `static/device.js`
runs it with onnxruntime-web (WebGPU, else WebAssembly). The server's only work is sending files.

onnxruntime-web's files come from a local folder when one is there (`CYCLEGAN_ORT_WEB_DIR`, or
`third_party/onnxruntime-web` beside the app; `.ci/run` puts the pinned npm package's files there),
else from a pinned public CDN URL with a subresource-integrity hash. The model files a visitor gets
are only those they may use (`TranslateHandlers.usable`: their own runs, the zoo, built-in models,
Hub models), each through an event that passes the app's door like every other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from cyclegan_core.engine.translation import multiply_adds_per_pixel
from cyclegan_core.export import exported

ORT_WEB_VERSION = "1.30.0"  # npm onnxruntime-web, pinned (.ci/run installs the same)
ORT_WEB_FILES = ("ort.min.js", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm")
ORT_WEB_CDN = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ORT_WEB_VERSION}/dist/"
ORT_WEB_INTEGRITY = "sha384-N94xSNjPDbfBJj4+QINst0nbHpcCm8kc1qNlIP/wA0muqjR3aVyIuDkMeccPrLvQ"  # ort.min.js
DEFAULT_MAX_DEVICE_PIXELS = 2_000_000  # a whole pass takes ≈1 kB per pixel in WebAssembly's 4 GB
EXPORTS_FOLDER = ".browser-onnx"  # in the model store: the ONNX files sent to browsers, made once per set of weights
DEFAULT_MAX_DEVICE_SECONDS = 20.0  # a device expected to take longer leaves the picture to the server
WHERE_DEVICE, WHERE_SERVER = "On this device", "On the server"
SCRIPT = Path(__file__).resolve().parent / "static" / "device.js"


def ort_web_dir() -> Path | None:
    """The local folder with onnxruntime-web's files, if there is one with all of them."""
    configured = os.environ.get("CYCLEGAN_ORT_WEB_DIR")
    folder = Path(configured) if configured else Path(__file__).resolve().parent.parent / "third_party" / "onnxruntime-web"
    return folder.resolve() if all((folder / name).is_file() for name in ORT_WEB_FILES) else None


def max_device_pixels() -> int:
    """`CYCLEGAN_DEVICE_MAX_PIXELS`: the largest picture sent to the visitor's device (0: never)."""
    value = os.environ.get("CYCLEGAN_DEVICE_MAX_PIXELS")
    return int(value) if value else DEFAULT_MAX_DEVICE_PIXELS


def max_device_seconds() -> float:
    """`CYCLEGAN_DEVICE_MAX_SECONDS`: the longest a translation may be expected to take on the device
    (from the speed it measured there before, or a cautious guess); longer ones go to the server."""
    value = os.environ.get("CYCLEGAN_DEVICE_MAX_SECONDS")
    return float(value) if value else DEFAULT_MAX_DEVICE_SECONDS


def device_settings() -> dict:
    """What `device.js` reads as `window.CYCLEGAN_DEVICE`: where onnxruntime-web is (the app's own
    static files, or the CDN with its integrity hash) and the largest picture for a device."""
    local = ort_web_dir()
    if local is not None:
        base = f"/gradio_api/file={local.as_posix()}/"
        where = {"base": base, "script": base + "ort.min.js", "integrity": None, "source": "local"}
    else:
        where = {"base": ORT_WEB_CDN, "script": ORT_WEB_CDN + "ort.min.js", "integrity": ORT_WEB_INTEGRITY,
                 "source": "cdn"}
    return {**where, "maxPixels": max_device_pixels(), "maxSeconds": max_device_seconds()}


def static_paths() -> list[Path]:
    """Folders the app serves as they are (`gr.set_static_paths`): onnxruntime-web's, when local."""
    local = ort_web_dir()
    return [local] if local is not None else []


def head_html() -> str:
    """The page's `<head>` additions: the settings and `device.js` (inline: nothing else to fetch)."""
    return (f"<script>window.CYCLEGAN_DEVICE = {json.dumps(device_settings())};</script>\n"
            f"<script>{SCRIPT.read_text()}</script>")


# The page's steps (`wire`): the visible Translate button only chooses a path in the browser and presses
# one of two hidden buttons. "On the server" runs the server's translation as before; "on this device"
# asks the server for the model file (an event like any other: the door, the ownership rule) and then
# runs `device.js`, which answers with the result, its facts and the progress box's last state.
ROUTE_JS = """(where, image, cycle) => {
  const device = where === %s && !!image && !cycle && !!window.cycleganDevice
                 && window.cycleganDevice.capable(document.querySelector("#input-image img"));
  document.getElementById(device ? "translate-device" : "translate-server").click();
  return [];
}""" % json.dumps(WHERE_DEVICE)
RUN_JS = "(image, file, info) => window.cycleganDevice.runOnPage(image, file, info)"


class DeviceModels:
    """The model file for a task, for a visitor who may use it (`usable`: the Translate tab's rule)."""

    def __init__(self, handlers):
        self.handlers = handlers  # TranslateHandlers: its model cache and its ownership rule

    def model_for(self, task_text: str, extra: list[dict] | None, token: str | None = None) -> tuple[str, dict]:
        """(the ONNX file's path, what the page needs to run it: sha256, bytes, precision, the task)."""
        chosen = self.handlers.parse_task(task_text, extra, token)
        key = self.handlers.usable(chosen.source, token)  # refused before anything is loaded or sent
        model = self.handlers.cache.get(key)
        file = exported(model, chosen.direction, self.handlers.store.root / EXPORTS_FOLDER)
        flops = 2 * multiply_adds_per_pixel(model.generator(chosen.direction))
        return str(file.path), {"sha256": file.sha256, "bytes": file.bytes, "precision": file.precision,
                                "flops_per_pixel": flops,
                                "psnr": file.psnr, "task": chosen.label, "what": model.describe(chosen.direction),
                                "one_way": model.one_way}

    def live_model_for(self, task_text: str, extra: list[dict] | None, token: str | None = None) -> tuple[str, dict]:
        """The webcam's model file on this device: the generator's live graph (it returns each frame's
        InstanceNorm statistics and takes a shot's instead; `onnx_graph.py`), under the same rule."""
        chosen = self.handlers.parse_task(task_text, extra, token)
        key = self.handlers.usable(chosen.source, token)  # refused before anything is loaded or sent
        model = self.handlers.cache.get(key)
        generator = model.generator(chosen.direction)
        file = exported(model, chosen.direction, self.handlers.store.root / EXPORTS_FOLDER, live=True)
        channels = [m.num_features for m in generator.modules() if isinstance(m, nn.InstanceNorm2d)]
        return str(file.path), {"sha256": file.sha256, "bytes": file.bytes, "precision": file.precision,
                                "statistics_length": file.statistics_length, "norm_channels": channels,
                                "task": chosen.label, "what": model.describe(chosen.direction)}

    def live_model_on_page(self, task_text: str, extra: list[dict] | None, token: str | None = None):
        """`live_model_for` for the page: yields (file, info, message); a refusal is the message, and the
        file stays empty so nothing starts."""
        import gradio as gr

        from .errors import visitor_message
        yield gr.skip(), gr.skip(), "Preparing the model for this device…"
        try:
            self.handlers.parse_task(task_text, extra, token)
        except Exception:  # noqa: BLE001 — said without echoing what was sent
            yield None, None, "**Could not start the camera on this device:** choose one of the listed tasks first."
            return
        try:
            path, info = self.live_model_for(task_text, extra, token)
        except Exception as e:  # noqa: BLE001 — every failure is the visitor's message (details: the log)
            yield None, None, f"**Could not start the camera on this device:** {visitor_message(e, 'device_model')}"
            return
        yield path, info, ""

    def model_on_page(self, payload, task_text: str, extra: list[dict] | None, token: str | None = None):
        """`model_for` for the page, given the picture the device will translate (checked first, as the
        server path checks it): yields (file, info, error box, progress box). The progress box says the
        model is being prepared (its first time: exported and checked), then `device.js` takes it over;
        a failure goes to the error box and leaves the file empty, so nothing runs."""
        import gradio as gr

        from .errors import error_update, visitor_message
        from .progress import message_html
        yield (gr.skip(), gr.skip(), error_update(),
               gr.update(value=message_html("Preparing the model for this device…"), visible=True))
        try:
            self.handlers.image_source(payload)  # an upload of this page, or the visitor's message
            path, info = self.model_for(task_text, extra, token)
        except Exception as e:  # noqa: BLE001 — every failure is the visitor's message (details: the log)
            yield None, None, error_update(visitor_message(e, "device_model"), "Could not translate"), \
                gr.update(value="", visible=False)
            return
        yield path, info, gr.skip(), gr.update(value=message_html("Translating on this device…"), visible=True)


def wire(handlers, where, run, image_in, task, extra, visitor, show_cycle, outputs: dict) -> None:
    """The Translate button's paths (see ROUTE_JS). `outputs`: the tab's image, info, error, progress and
    cycle components by name. Returns nothing: the server path is the tab's `translate-server` button."""
    import gradio as gr
    models = DeviceModels(handlers)
    run_device = gr.Button("Translate on this device", visible="hidden", elem_id="translate-device")
    model_file = gr.File(visible="hidden", elem_id="device-model")
    model_info = gr.JSON(visible="hidden", elem_id="device-model-info")
    run.click(None, inputs=[where, image_in, show_cycle], js=ROUTE_JS)  # the cycle needs both directions: server
    fetched = run_device.click(models.model_on_page, inputs=[image_in, task, extra, visitor], preprocess=False,
                               outputs=[model_file, model_info, outputs["error"], outputs["progress"]],
                               show_progress="hidden", api_visibility="private", concurrency_limit=2,
                               concurrency_id="device-model")
    fetched.then(None, inputs=[image_in, model_file, model_info],
                 outputs=[outputs["image"], outputs["info"], outputs["progress"], outputs["error"], outputs["cycle"]],
                 js=RUN_JS)


__all__ = ["DeviceModels", "WHERE_DEVICE", "WHERE_SERVER", "device_settings", "head_html",
           "max_device_pixels", "ort_web_dir", "static_paths"]
