"""The Translate tab: an image and a task in, the translated image (PNG, full resolution) out.

`TranslateHandlers` holds the event handlers (plain methods, testable without a server);
`build_translate_tab` lays out the components and wires them. Events:
- `translate` (public API): (image, task) → image. The task is a label from the list, e.g.
  "horse → zebra", or "SOURCE:AtoB" for any model source.
- `load_model` (public API): a Hub repo id (or a zoo or stored model's name) → adds its two directions.
- a follow-up (UI only) that shows timing, model info and, on request, the cycle F(G(x)).
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import asdict
from pathlib import Path

import gradio as gr
from PIL import Image

from cyclegan_core import ModelStore, load_image
from cyclegan_core.public_sources import resolve
from cyclegan_core.runtime import resolve_precision

from .errors import user_errors
from .model_cache import ModelCache
from .tasks import Task, all_tasks, model_tasks, parse_task
from .visitors import may_use

EXAMPLES = Path(__file__).parent / "examples"
DEFAULT_TASK = "summer → winter"
# Translation is streamed in bounded memory, so phone photos go through at full size; larger ones
# are downscaled to this, with a note, to keep a shared Space responsive. The CLI and Python API
# take any size up to their own cap.
DEFAULT_APP_MAX_PIXELS = 4096 * 4096


def app_max_pixels() -> int:
    value = os.environ.get("CYCLEGAN_APP_MAX_PIXELS")
    return int(value) if value else DEFAULT_APP_MAX_PIXELS


def _tasks(extra: list[dict] | None, token: str | None = None) -> list[Task]:
    """The tasks this visitor may choose: the zoo, the store's models they may use, their extras."""
    return all_tasks([Task(**t) for t in extra or []], visible=lambda model: may_use(model, token))


def image_source(payload) -> str | bytes:
    """The uploaded file's path (or bytes of a data: URL), straight from Gradio's payload, so
    that decoding, EXIF and colour modes are handled (and reported) by the core."""
    if payload is None:
        raise gr.Error("Add an image first: drop one in, paste it, or click to browse.", print_exception=False)
    if isinstance(payload, str):
        return payload
    url, path = payload.get("url") or "", payload.get("path")
    if url.startswith("data:"):
        return base64.b64decode(url.split(",", 1)[1])
    if not path:
        raise gr.Error("The upload did not arrive; please try again.", print_exception=False)
    return path


def fit_to_limit(image: Image.Image, limit: int) -> tuple[Image.Image, str]:
    width, height = image.size
    if width * height <= limit:
        return image, ""
    scale = (limit / (width * height)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    note = (f"Downscaled from {width}×{height} to {size[0]}×{size[1]} (this app translates up to "
            f"{limit / 1e6:.1f} MP per image; the command line does any size up to its own limit).")
    return image.resize(size, Image.Resampling.LANCZOS), note


def task_choices(extra: list[dict] | None, token: str | None = None) -> list[str]:
    return [t.label for t in _tasks(extra, token)]


class TranslateHandlers:
    """The tab's event handlers over one model cache. Core errors propagate as `CycleGANError`
    (the wiring turns them into messages); `gr.Error` is raised for problems with the page's input."""

    def __init__(self, cache: ModelCache, store: ModelStore | None = None):
        self.cache = cache
        self.store = store or ModelStore()

    def usable(self, source: str, token: str | None) -> str:
        """`source` if this visitor may use it (else the one refusal, `public_sources.resolve`)."""
        resolve(source, self.store, visible=lambda model: may_use(model, token))
        return source

    def translate(self, payload, task_text: str, extra_tasks: list[dict] | None,
                  token: str | None = None) -> tuple[Image.Image, dict]:
        """(uploaded image, task) → (translated image, facts for `describe`)."""
        chosen = parse_task(task_text, _tasks(extra_tasks, token))
        source = image_source(payload)
        model = self.cache.get(self.usable(chosen.source, token))
        picture, note = fit_to_limit(load_image(source), app_max_pixels())
        start = time.perf_counter()
        result = model.translate(picture, chosen.direction)
        seconds = time.perf_counter() - start
        return result, {
            "source": chosen.source, "direction": chosen.direction, "what": model.describe(chosen.direction),
            "size": picture.size, "seconds": seconds, "note": note, "device": str(model.device),
            "precision": resolve_precision("auto", model.device),
            "provenance": model.config.provenance, "license": model.config.license,
        }

    def describe(self, translated: Image.Image | None, facts: dict, cycle: bool):
        """Timing, model facts and, if `cycle`, the reconstruction F(G(x)) beside the result."""
        if not facts:
            return gr.skip(), gr.skip()
        lines = [f"**{facts['what']}** · {facts['size'][0]}×{facts['size'][1]} px · "
                 f"{facts['seconds']:.2f} s ({facts['precision']} on {facts['device']})"]
        reconstruction = gr.update(visible=False, value=None)  # an update: the image is encoded once, as PNG
        if cycle and translated is not None:
            model = self.cache.get(facts["source"])
            back = "BtoA" if facts["direction"] == "AtoB" else "AtoB"
            start = time.perf_counter()
            reconstruction = gr.update(visible=True, value=model.translate(translated, back),
                                       label=f"Back again ({model.describe(back)}): should look like your image")
            lines.append(f"Cycle: {model.describe(back)} in {time.perf_counter() - start:.2f} s. The cycle-"
                         f"consistency loss (Eq. 2 of the paper) trains exactly this round trip to return the input.")
        if facts["note"]:
            lines.append(facts["note"])
        about = [f"Source: `{facts['source']}`"] + [facts[k] for k in ("provenance", "license") if facts[k]]
        lines.append("<details><summary>About this model</summary>\n\n" + "\n\n".join(about) + "\n\n</details>")
        return reconstruction, "\n\n".join(lines)

    def load_model(self, text: str, extra_tasks: list[dict] | None, token: str | None = None):
        """A Hub repo id → its two directions added to the task list (and chosen)."""
        text = (text or "").strip()
        if not text:
            raise gr.Error("Type a Hub repo id such as owner/repo first.", print_exception=False)
        model = self.cache.get(self.usable(text, token))  # server paths are refused before any look-up
        new = model_tasks(text, text, model.config.domain_a, model.config.domain_b)
        extra_tasks = [*(extra_tasks or []), *(asdict(t) for t in new if asdict(t) not in (extra_tasks or []))]
        gr.Info(f"Loaded {text}: {model.config.domain_a} ↔ {model.config.domain_b}")
        return gr.update(choices=task_choices(extra_tasks, token), value=new[0].label), extra_tasks

    @staticmethod
    def refresh(current: str, extra_tasks: list[dict] | None, token: str | None = None):
        """On page load: this visitor's task list (models may have been trained since)."""
        labels = task_choices(extra_tasks, token)
        return gr.update(choices=labels, value=current if current in labels else DEFAULT_TASK)


def build_translate_tab(cache: ModelCache, visitor: gr.State, loaded) -> tuple[gr.Dropdown, gr.State]:
    """Create the tab's components in the current Blocks context and wire its events (`loaded`: the
    page-load event that sets `visitor`). Returns the task list and the session's extra tasks,
    which the Train tab updates when a model is made."""
    handlers = TranslateHandlers(cache)
    extra = gr.State([])  # Hub models loaded in this browser session (dicts of Task)
    details = gr.State({})

    with gr.Row(equal_height=False):
        with gr.Column():
            image_in = gr.Image(label="Your image", type="filepath", image_mode=None,
                                sources=["upload", "clipboard", "webcam"], elem_id="input-image")
            task = gr.Dropdown(choices=task_choices([]), value=DEFAULT_TASK, label="Task",
                               elem_id="task", allow_custom_value=True)
            show_cycle = gr.Checkbox(label="Show the cycle: translate back as well, F(G(x))", value=False,
                                     elem_id="show-cycle")
            run = gr.Button("Translate", variant="primary", elem_id="translate-button")
            with gr.Accordion("Use a model from the Hugging Face Hub", open=False):
                hub_repo = gr.Textbox(label="Hub repo id",
                                      placeholder="owner/repo[/subfolder][@revision]", elem_id="hub-repo")
                hub_load = gr.Button("Load model", elem_id="hub-load")
        with gr.Column():
            image_out = gr.Image(label="Translated (PNG, full resolution)", type="pil", format="png",
                                 interactive=False, buttons=["download", "fullscreen"], elem_id="output-image")
            cycle_out = gr.Image(label="Back again: the reconstruction", type="pil", format="png",
                                 interactive=False, visible=False, elem_id="cycle-image")
            info = gr.Markdown(elem_id="translate-info")

    examples = [[str(EXAMPLES / "rocket.jpg"), "summer → winter"], [str(EXAMPLES / "chelsea.jpg"), "horse → zebra"]]
    gr.Examples([e for e in examples if Path(e[0]).is_file()], inputs=[image_in, task], cache_examples=False,
                label="Examples (click one, then Translate)")

    event = run.click(user_errors(handlers.translate), inputs=[image_in, task, extra, visitor],
                      outputs=[image_out, details],
                      api_name="translate", preprocess=False, concurrency_limit=1, concurrency_id="translate")
    event.success(user_errors(handlers.describe), inputs=[image_out, details, show_cycle], outputs=[cycle_out, info],
                  api_visibility="private", concurrency_limit=1, concurrency_id="translate")
    event.failure(lambda: (gr.Image(visible=False, value=None), ""), outputs=[cycle_out, info],
                  api_visibility="private", queue=False)
    gr.on([hub_load.click, hub_repo.submit], user_errors(handlers.load_model), inputs=[hub_repo, extra, visitor],
          outputs=[task, extra], api_name="load_model", concurrency_limit=1, concurrency_id="load")
    loaded.then(handlers.refresh, inputs=[task, extra, visitor], outputs=[task], api_visibility="private")
    return task, extra
