"""The Translate tab: an image and a task in, the translated image (PNG, full resolution) out.

`TranslateHandlers` holds the event handlers (plain methods, testable without a server);
`build_translate_tab` lays out the components and wires them. Events:
- `translate` (public API): (image, task) → image. The task is a label from the list, e.g.
  "horse → zebra", or "SOURCE:AtoB" for any model source. Errors reach an API client as errors.
- The page's own Translate button streams: a large picture's quick preview first (≤ 0.5 MP, sized
  to arrive in about a second, `progress.py`), then the full-resolution result, with a progress bar,
  the time left and a Cancel that stops the work at once. Its errors are shown in a box beside the
  output that stays until the next action, line breaks kept.
- `load_model` (public API): a Hub repo id (or a zoo or stored model's name) → adds its directions.
- UI only: a follow-up that shows timing, model info and, on request, the cycle F(G(x)); choosing a
  group filters the task list; choosing a task shows its model card, whether it is ready (or how
  much it downloads, or why it is unavailable offline) and example pictures of its input domain.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from dataclasses import asdict
from typing import Any, Callable

import gradio as gr
from PIL import ExifTags, Image

from cyclegan_core import ZOO, CycleGANError, ModelStore, load_image
from cyclegan_core.engine.runtime import CoreShare, resolve_precision
from cyclegan_core.public_sources import resolve
from cyclegan_core.sources.availability import Availability, Reachability, packaged_availability, zoo_availability
from cyclegan_core.sources.packaged import PACKAGED

from . import device
from .device import WHERE_DEVICE, WHERE_SERVER, max_device_pixels
from .errors import error_box, error_update, user_errors, visitor_message
from .example_pictures import ExamplePictures
from .model_cache import ModelCache
from .outputs import named
from .progress import (SpeedRecord, Worker, message_html, preview_size, progress_html, seconds_left,
                       time_left_text)
from .tasks import HUB_GROUP, TASK_GROUPS, Task, all_tasks, model_tasks, parse_task
from .video import build_video
from .visitors import may_use
from .webcam import build_webcam
from .zerogpu import main_cpus, on_device, on_gpu, translation_seconds

ALL_GROUPS = "All tasks"
DEFAULT_TASK = "modern photo → vintage photo"  # built in: works offline, on the first click
# What one public request may cost is known before the work starts: larger pictures are translated
# downscaled to this, with a note, so that no request holds the CPU for minutes (3 MP take well under
# a minute on the slowest CPU class measured, AVX2 only: benchmarks/README.md). The owner's own use
# keeps full size: the CLI and the Python API take any size up to the core's cap, and a private
# Space may raise this setting.
DEFAULT_APP_MAX_PIXELS = 3_000_000
# Pictures larger than this are refused from their header, before any decoding: a decompression
# bomb (a small file claiming 8192² pixels) costs nothing; 48 MP phone photos still go through.
DEFAULT_APP_MAX_INPUT_PIXELS = 50_000_000


def app_max_pixels() -> int:
    """`CYCLEGAN_APP_MAX_PIXELS`: the largest translation the app makes (default 3 MP)."""
    value = os.environ.get("CYCLEGAN_APP_MAX_PIXELS")
    return int(value) if value else DEFAULT_APP_MAX_PIXELS


def app_max_input_pixels() -> int:
    """`CYCLEGAN_APP_MAX_INPUT_PIXELS`: the largest picture the app decodes (default 50 MP)."""
    value = os.environ.get("CYCLEGAN_APP_MAX_INPUT_PIXELS")
    return int(value) if value else DEFAULT_APP_MAX_INPUT_PIXELS


def visitor_image(payload, reduce_to: int | None = None):
    """The picture a visitor uploaded, upright RGB; refused from its header above
    `app_max_input_pixels()` (`reduce_to`: only this many pixels are needed on the shorter side)."""
    return load_image(image_source(payload), max_pixels=app_max_input_pixels(), reduce_to=reduce_to)


def _tasks(extra: list[dict] | None, token: str | None = None) -> list[Task]:
    """The tasks this visitor may choose: the zoo, the store's models they may use, their extras."""
    return all_tasks([Task(**t) for t in extra or []], visible=lambda model: may_use(model, token))


def image_source(payload) -> str:
    """The uploaded file's path, from Gradio's payload (the app's door has checked that it is a file
    Gradio received), so that decoding, EXIF and colour modes are handled (and reported) by the core."""
    if payload is None:
        raise gr.Error("Add an image first: drop one in, paste it, or click to browse.", print_exception=False)
    path = payload if isinstance(payload, str) else payload.get("path") if isinstance(payload, dict) else None
    if not path:
        raise gr.Error("The upload did not arrive; please try again.", print_exception=False)
    return path


def fitted_size(size: tuple[int, int], limit: int) -> tuple[int, int]:
    """`size`, scaled down (aspect kept) to at most `limit` pixels."""
    width, height = size
    if width * height <= limit:
        return size
    scale = (limit / (width * height)) ** 0.5
    return max(1, int(width * scale)), max(1, int(height * scale))


def fit_to_limit(image: Image.Image, limit: int) -> tuple[Image.Image, str]:
    width, height = image.size
    size = fitted_size(image.size, limit)
    if size == image.size:
        return image, ""
    note = (f"Downscaled from {width}×{height} to {size[0]}×{size[1]} (this app translates up to "
            f"{limit / 1e6:.1f} MP per image; the command line does any size up to its own limit).")
    return image.resize(size, Image.Resampling.LANCZOS), note


def picture_size(source: str | bytes) -> tuple[int, int] | None:
    """The upright size of the picture in `source`, from its header alone; None where that cannot be
    read (decoding it then says why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the core's pixel cap decides
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                width, height = image.size
                turned = image.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8)
    except Exception:  # noqa: BLE001 - load_image reports what is wrong with the file
        return None
    return (height, width) if turned else (width, height)


def preview_picture(source: str | bytes, size: tuple[int, int]) -> Image.Image:
    """The picture in `source` at `size` (upright, as `load_image` gives it): a JPEG is decoded at a
    reduced scale (much faster than in full), then resized."""
    picture = load_image(source, max_pixels=app_max_input_pixels(), reduce_to=min(size))
    return picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def task_choices(extra: list[dict] | None, token: str | None = None, two_way_only: bool = False) -> list[str]:
    """The labels of this visitor's tasks (`two_way_only`: leave out one-way models, for views of the cycle)."""
    return [t.label for t in _tasks(extra, token) if not (two_way_only and t.one_way)]


def task_availability(task: Task, reach: Reachability) -> Availability | None:
    """Built-in and zoo tasks: ready, downloadable or unavailable; None for the visitor's own and Hub
    models (they are here, or were loaded on request)."""
    if task.source in PACKAGED:
        return packaged_availability(task.source)
    if task.source in ZOO:
        return zoo_availability(task.source, reach.why_not())
    return None


def task_options(extra: list[dict] | None, token: str | None, reach: Reachability,
                 group: str = ALL_GROUPS) -> list[tuple[str, str]]:
    """(shown text, task label) for the task list: the group's tasks, each with what it needs now."""
    options = []
    for task in _tasks(extra, token):
        if group not in (ALL_GROUPS, "", None) and task.group != group:
            continue
        state = task_availability(task, reach)
        note = "" if state is None or state.ready else f" · {state.note}"
        options.append((f"{task.label}{note}", task.label))
    return options


def task_input_domain(task: Task, domains: tuple[str, str] | None) -> str:
    """The domain a task's input pictures come from (A for A → B)."""
    if domains is None:
        return ""
    return domains[0] if task.direction == "AtoB" else domains[1]


class TranslateHandlers:
    """The tab's event handlers over one model cache. Core errors propagate as `CycleGANError`
    (the wiring turns them into messages); `gr.Error` is raised for problems with the page's input."""

    def __init__(self, cache: ModelCache, store: ModelStore | None = None, examples: ExamplePictures | None = None,
                 reach: Reachability | None = None, clock: Callable[[], float] = time.monotonic,
                 poll_seconds: float = 0.5, share: CoreShare | None = None):
        self.cache = cache
        self.share = share or CoreShare(main_cpus())  # the CPUs, shared with a training run (each job sizes its threads)
        self.store = store or ModelStore()
        self.examples = examples or ExamplePictures()
        self.reach = reach or Reachability()
        self.speeds = SpeedRecord()  # sizes the next preview to arrive in about a second
        self.clock, self.poll_seconds = clock, poll_seconds  # the time left; how often the progress box updates
        self.back_again = on_gpu(self._back_again, lambda key, picture, direction: translation_seconds(
            picture.width * picture.height))  # the cycle view's F(G(x)): on ZeroGPU, a GPU call of its own

    image_source = staticmethod(image_source)  # for the device path (device.py), which has no page of its own

    @staticmethod
    def parse_task(task_text: str, extra: list[dict] | None, token: str | None = None) -> Task:
        """This visitor's task named `task_text` (or `CycleGANError`)."""
        return parse_task(task_text, _tasks(extra, token))

    def usable(self, source: str, token: str | None) -> str:
        """The model cache's key (`PublicSource.key`) of `source` as this visitor names it, if they may
        use it (else the one refusal, `public_sources.resolve`: another visitor's run reads like a
        missing model). Two visitors' runs of one name have different keys."""
        return resolve(source, self.store, visible=lambda model: may_use(model, token)).key

    # --- the task list: groups, availability, cards, examples ---

    def availability(self, task: Task) -> Availability | None:
        return task_availability(task, self.reach)

    def options(self, extra: list[dict] | None, token: str | None = None,
                group: str = ALL_GROUPS) -> list[tuple[str, str]]:
        return task_options(extra, token, self.reach, group)

    def groups(self, extra: list[dict] | None, token: str | None = None) -> list[str]:
        present = {t.group for t in _tasks(extra, token)}
        return [ALL_GROUPS, *(g for g in TASK_GROUPS if g in present)]

    def choose_group(self, group: str, current: str, extra: list[dict] | None, token: str | None = None):
        """A group chosen: the task list shows its tasks (the current task stays if it is one of them)."""
        options = self.options(extra, token, group)
        values = [value for _, value in options]
        return gr.update(choices=options, value=current if current in values else (values[0] if values else None))

    def card(self, task: Task, token: str | None = None) -> tuple[str, tuple[str, str] | None, bool]:
        """(model card Markdown, its domains or None if unknown without loading it, one-way?). Only the
        store's models this visitor may use count, by their names: another visitor's run reads like a
        missing model (the Hub's text)."""
        if task.source in PACKAGED:
            p = PACKAGED[task.source]
            return p.card(), (p.domain_a, p.domain_b), True
        if task.source in ZOO:
            e = ZOO[task.source]
            return e.card(), (e.domain_a, e.domain_b), e.one_way
        for model in self.store.visible_models(lambda m: may_use(m, token)):
            if model.name == task.source:
                c = model.config
                kind = "one-way" if c.one_way else "two-way"
                text = (f"**{model.name}** · {c.domain_a} {'→' if c.one_way else '↔'} {c.domain_b} · {kind} · "
                        f"{c.ngf} filters, {c.n_blocks} blocks, trained at {c.image_size}²\n\n"
                        + "\n\n".join(x for x in (c.provenance, c.license and f"**Licence.** {c.license}") if x))
                return text, (c.domain_a, c.domain_b), c.one_way
        return f"**{task.source}** · a model from the Hugging Face Hub: its card is on its Hub page.", None, task.one_way

    def choose(self, task_text: str, extra: list[dict] | None, token: str | None = None):
        """A task chosen: (whether it is ready, its model card, example pictures of its input domain,
        whether the cycle can be shown, the error box cleared)."""
        try:
            task = parse_task(task_text, _tasks(extra, token))
        except CycleGANError:
            return ("", "", gr.update(value=[], visible=False), gr.update(), gr.update(value="", visible=False))
        text, domains, one_way = self.card(task, token)
        state = self.availability(task)
        status = ""
        if state is not None:
            note = state.note[0].upper() + state.note[1:]
            status = "✔ Ready" + (f" · {state.note}" if state.note != "ready" else "") if state.ready else \
                ("↓ " if state.usable else "✖ ") + note
        status += (" · one-way: no reverse direction, no cycle" if one_way else "")
        pictures = self.task_examples(task_text, extra, token)
        # The strip shows the pictures alone (a credit does not fit under a thumbnail); the credits are
        # in "About this task", numbered as the pictures are.
        gallery = gr.update(value=[str(p.path) for p in pictures], visible=bool(pictures),
                            label=f"Examples of {task_input_domain(task, domains)} (click one)")
        if pictures:
            text += "\n\n**Example pictures** (left to right): " + "; ".join(
                f"{i}. {p.caption}" for i, p in enumerate(pictures, 1)) + "."
        cycle = (gr.update(value=False, interactive=False,
                           label="Show the cycle: not for a one-way model (it has no reverse generator)")
                 if one_way else gr.update(interactive=True, label=CYCLE_LABEL))
        return status.strip(" ·"), text, gallery, cycle, gr.update(value="", visible=False)

    def task_examples(self, task_text: str, extra: list[dict] | None, token: str | None = None) -> list:
        """The example pictures the page shows for a task (empty for an unknown task)."""
        try:
            task = parse_task(task_text, _tasks(extra, token))
        except CycleGANError:
            return []
        return self.examples.for_domain(task_input_domain(task, self.card(task, token)[1]))

    def pick_example(self, task_text: str, extra: list[dict] | None, token: str | None, evt: gr.SelectData):
        """An example clicked: it becomes the input image. The picture is looked up here by its place in
        the task's list, never taken from what the page sends (which could name any server file)."""
        pictures = self.task_examples(task_text, extra, token)
        index = getattr(evt, "index", None)
        index = index if isinstance(index, int) and not isinstance(index, bool) else -1
        if not 0 <= index < len(pictures):
            return gr.skip(), gr.skip()
        return gr.update(value=str(pictures[index].path)), gr.update(value="", visible=False)

    def prefetch(self, task_text: str, extra: list[dict] | None, token: str | None = None) -> None:
        """The task's model loaded and warmed up in the background when it is here (nothing is downloaded:
        a zoo model not fetched yet, or a Hub model, waits for Translate), so that the first Translate
        does not wait for it. Wired to the page's opening and to each task chosen."""
        try:
            task = parse_task(task_text, _tasks(extra, token))
            source = resolve(task.source, self.store, visible=lambda model: may_use(model, token))
        except CycleGANError:
            return
        state = self.availability(task)
        if source.kind != "hub" and (state is None or state.ready):
            self.cache.prefetch(source.key)

    # --- translating ---

    @staticmethod
    def gpu_seconds(payload, *rest) -> int:
        """The GPU loan a translation asks for on ZeroGPU (`zerogpu.on_gpu`), from the picture's size."""
        try:
            size = picture_size(image_source(payload))
        except Exception:  # noqa: BLE001 — the translation itself says what is wrong with it
            size = None
        return translation_seconds(size[0] * size[1] if size else None)

    def translate(self, payload, task_text: str, extra_tasks: list[dict] | None,
                  token: str | None = None) -> tuple[Image.Image, dict]:
        """(uploaded image, task) → (translated image, facts for `describe`)."""
        chosen = parse_task(task_text, _tasks(extra_tasks, token))
        source = image_source(payload)
        key = self.usable(chosen.source, token)
        return self.full_resolution(on_device(self.cache.get(key)), chosen, source, key=key)

    def full_resolution(self, model, chosen: Task, source: str | bytes,
                        progress: Callable[[float], None] | None = None,
                        key: str | None = None) -> tuple[Image.Image, dict]:
        """The picture translated at its full resolution (up to `app_max_pixels`), with the facts for
        `describe`; the speed is recorded for the next preview's size. `key`: the model's in the cache
        (`usable`; default: the task's source)."""
        key = key or chosen.source
        picture, note = fit_to_limit(load_image(source, max_pixels=app_max_input_pixels()), app_max_pixels())
        start = time.perf_counter()
        with self.share.job():  # in the thread that translates: its threads sized to its share of the CPUs
            result = model.translate(picture, chosen.direction, progress=progress)
        seconds = time.perf_counter() - start
        self.speeds.record((key, str(model.device)), picture.width * picture.height, seconds)
        return result, {
            "source": chosen.source, "key": key, "direction": chosen.direction,
            "what": model.describe(chosen.direction),
            "size": picture.size, "seconds": seconds, "note": note, "device": str(model.device),
            "precision": resolve_precision("auto", model.device), "one_way": model.one_way,
            "provenance": model.config.provenance, "license": model.config.license,
        }

    def translate_on_page(self, payload, task_text: str, extra_tasks: list[dict] | None, token: str | None = None):
        """The page's Translate button, in stages (yields of PAGE_OUTPUTS): a large picture's quick preview,
        then the full-resolution result, translated in a worker thread while the progress box shows how far
        it is and the time left. Closing this generator (Cancel, or the page closed) stops the worker at
        its next progress call. A failure is shown in the error box beside the output (where it stays until
        the next action) instead of a pop-up that fades."""
        try:
            yield from self.stages(payload, task_text, extra_tasks, token)
        except Exception as e:  # every failure becomes words in the box; the app keeps serving
            message = error_box(visitor_message(e, "translate"), "Could not translate")
            yield named(PAGE_OUTPUTS, image=gr.update(value=None, label=RESULT_LABEL), details={}, info="",
                       error=gr.update(value=message, visible=True), cycle=gr.update(visible=False, value=None),
                       progress=gr.update(value="", visible=False), cancel=gr.update(visible=False))

    def stages(self, payload, task_text: str, extra_tasks: list[dict] | None, token: str | None):
        """`translate_on_page`'s yields, failures raised. The preview is translated here, the full pass in
        the worker: closing this generator while it waits for the worker cancels it (`finally`)."""
        chosen = parse_task(task_text, _tasks(extra_tasks, token))
        source = image_source(payload)
        key = self.usable(chosen.source, token)  # refused here, before any yield, as a missing model is
        starting = "Starting…" if key in self.cache else "Loading the model…"
        yield named(PAGE_OUTPUTS, image=gr.update(value=None, label=RESULT_LABEL), details={}, info="",
                   error=gr.update(value="", visible=False), cycle=gr.update(visible=False, value=None),
                   progress=gr.update(value=message_html(starting), visible=True), cancel=gr.update(visible=True))
        model = on_device(self.cache.get(key))  # on ZeroGPU: to this call's GPU
        speed_key = (key, str(model.device))
        upright = picture_size(source)  # None: unreadable, and decoding it in full says why
        full = fitted_size(upright, app_max_pixels()) if upright else None
        small = preview_size(full, self.speeds.preview_pixels(speed_key)) if full else None
        if small:
            quick = preview_picture(source, small)
            start = time.perf_counter()
            with self.share.job():
                preview = model.translate(quick, chosen.direction)
            self.speeds.record(speed_key, small[0] * small[1], time.perf_counter() - start)
        worker = Worker(lambda progress: self.full_resolution(model, chosen, source, progress, key), self.clock)
        expected = self.speeds.expected_seconds(speed_key, full[0] * full[1]) if full else None

        def progress_box() -> dict:
            left = time_left_text(seconds_left(worker.fraction, worker.elapsed(), expected))
            title = f"Full resolution ({full[0]}×{full[1]})" if full else "Full resolution"
            return gr.update(value=progress_html(title, worker.fraction, left))

        if small:
            label = f"Preview ({small[0]}×{small[1]}) · full size coming"
            yield named(PAGE_OUTPUTS, image=gr.update(value=preview, label=label), progress=progress_box())
        worker.start()
        try:
            while not worker.wait(self.poll_seconds):
                yield named(PAGE_OUTPUTS, progress=progress_box())
        finally:
            worker.cancel()  # closed early (Cancel, page gone): the translation stops at its next progress call
        result, facts = worker.result()
        if small:
            facts["preview"] = small
        yield named(PAGE_OUTPUTS, image=gr.update(value=result, label=RESULT_LABEL), details=facts,
                   progress=gr.update(value="", visible=False), cancel=gr.update(visible=False))

    @staticmethod
    def settle(box: str | None, shown) -> tuple:
        """After the Translate button's run however it ended: (the progress box, the Cancel button, the
        output's label). A finished or failed run empties the box; one that still shows something was
        cancelled, and the box says so, the output named for what it shows (the preview, or nothing)."""
        if not box:
            return gr.skip(), gr.skip(), gr.skip()
        return (gr.update(value=message_html("Cancelled: the full-resolution translation was stopped."),
                          visible=True), gr.update(visible=False),
                gr.update(label="Preview only (cancelled)" if shown else RESULT_LABEL))

    def _back_again(self, key: str, picture: Image.Image, direction: str) -> Image.Image:
        """`picture` translated in `direction` by the cached model `key` (the cycle view's way back)."""
        model = on_device(self.cache.get(key))
        with self.share.job():
            return model.translate(picture, direction)

    def describe(self, translated: Image.Image | None, facts: dict, cycle: bool):
        """Timing, model facts and, if `cycle`, the reconstruction F(G(x)) beside the result."""
        if not facts:
            return gr.skip(), gr.skip()
        preview = facts.get("preview")
        lines = [f"**{facts['what']}** · {facts['size'][0]}×{facts['size'][1]} px · "
                 f"{facts['seconds']:.2f} s ({facts['precision']} on {facts['device']})"
                 + (f" · preview first at {preview[0]}×{preview[1]}" if preview else "")]
        reconstruction = gr.update(visible=False, value=None)  # an update: the image is encoded once, as PNG
        if cycle and translated is not None and not facts.get("one_way"):
            model = self.cache.get(facts.get("key") or facts["source"])
            back = "BtoA" if facts["direction"] == "AtoB" else "AtoB"
            start = time.perf_counter()
            back_again = self.back_again(facts.get("key") or facts["source"], translated, back)
            reconstruction = gr.update(visible=True, value=back_again,
                                       label=f"Back again ({model.describe(back)}): should look like your image")
            lines.append(f"Cycle: {model.describe(back)} in {time.perf_counter() - start:.2f} s. The cycle-"
                         f"consistency loss (Eq. 2 of the paper) trains exactly this round trip to return the input.")
        elif cycle and facts.get("one_way"):  # asked for (the page's box is off for one-way models): say why not
            lines.append("One-way model: it was released without a reverse generator, so there is no cycle to show.")
        if facts["note"]:
            lines.append(facts["note"])
        about = [f"Source: `{facts['source']}`"] + [facts[k] for k in ("provenance", "license") if facts[k]]
        lines.append("<details><summary>About this model</summary>\n\n" + "\n\n".join(about) + "\n\n</details>")
        return reconstruction, "\n\n".join(lines)

    def load_model(self, text: str, extra_tasks: list[dict] | None, token: str | None = None):
        """A Hub repo id → its directions added to the task list (and chosen)."""
        text = (text or "").strip()
        if not text:
            raise gr.Error("Type a Hub repo id such as owner/repo first.", print_exception=False)
        model = self.cache.get(self.usable(text, token))  # server paths are refused before any look-up
        c = model.config
        new = model_tasks(text, text, c.domain_a, c.domain_b, c.one_way, group=HUB_GROUP)
        extra_tasks = [*(extra_tasks or []), *(asdict(t) for t in new if asdict(t) not in (extra_tasks or []))]
        return (gr.update(choices=self.options(extra_tasks, token), value=new[0].label), extra_tasks,
                gr.update(choices=self.groups(extra_tasks, token), value=ALL_GROUPS))

    def load_model_on_page(self, text: str, extra_tasks: list[dict] | None, token: str | None = None):
        """`load_model` for the page, with one more output, the Hub box's message: first that it checks
        the Hub (a probe, then maybe a download), then what was loaded or why it could not be (words in
        the box: no toast, no "Error" badge over the task lists). Each message replaces the last."""
        shown = (text or "").strip()
        try:
            if not shown:
                raise gr.Error("Type a Hub repo id such as owner/repo first.", print_exception=False)
            key = self.usable(shown, token)  # refused (a server path, say) before anything of it is echoed
            yield gr.skip(), gr.skip(), gr.skip(), gr.update(
                value=f"Checking the Hub for `{shown[:80]}`… (a few seconds; a model not here yet then downloads)",
                visible=True)
            task, extra_tasks, group = self.load_model(shown, extra_tasks, token)
        except Exception as e:  # noqa: BLE001 — every failure is the visitor's message (details: the log)
            yield gr.skip(), gr.skip(), gr.skip(), error_update(visitor_message(e, "load_model"), "Could not load it")
            return
        c = self.cache.get(key).config
        yield task, extra_tasks, group, gr.update(
            value=f"Loaded `{shown[:80]}`: {c.domain_a} {'→' if c.one_way else '↔'} {c.domain_b}, chosen as the task.",
            visible=True)

    def refresh(self, current: str, extra_tasks: list[dict] | None, token: str | None = None):
        """On page load: this visitor's groups and task list, with what each task needs right now
        (models may have been trained or fetched since)."""
        options = self.options(extra_tasks, token)
        values = [value for _, value in options]
        return (gr.update(choices=options, value=current if current in values else DEFAULT_TASK),
                gr.update(choices=self.groups(extra_tasks, token), value=ALL_GROUPS))


CYCLE_LABEL = "Show the cycle: translate back as well, F(G(x))"
RESULT_LABEL = "Translated (PNG, full resolution)"
# What the page's Translate button yields, in this order (`details`: the facts `describe` shows; `progress`:
# the progress box; `cancel`: the Cancel button, shown while a translation runs).
PAGE_OUTPUTS = ("image", "details", "error", "cycle", "info", "progress", "cancel")


def build_translate_tab(cache: ModelCache, visitor: gr.State, loaded,
                        share: CoreShare | None = None) -> tuple[gr.Dropdown, gr.State]:
    """Create the tab's components in the current Blocks context and wire its events (`loaded`: the
    page-load event that sets `visitor`). Returns the task list and the session's extra tasks,
    which the Train tab updates when a model is made."""
    handlers = TranslateHandlers(cache, share=share)
    on_page = on_gpu(handlers.translate_on_page, handlers.gpu_seconds)  # ZeroGPU: a GPU per translation
    for_api = on_gpu(handlers.translate, handlers.gpu_seconds)
    extra = gr.State([])  # Hub models loaded in this browser session (dicts of Task)
    details = gr.State({})
    first = handlers.choose(DEFAULT_TASK, [])  # the built-in default: nothing is probed or loaded

    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            image_in = gr.Image(label="Your image", type="filepath", image_mode=None,
                                sources=["upload", "clipboard", "webcam"], elem_id="input-image")
            with gr.Row(equal_height=False):
                group = gr.Dropdown(choices=handlers.groups([]), value=ALL_GROUPS, label="Kind of task",
                                    elem_id="task-group", min_width=160, scale=1)
                # Plain labels at start-up (nothing is probed then); the page load adds what each needs.
                task = gr.Dropdown(choices=task_choices([]), value=DEFAULT_TASK, label="Task",
                                   elem_id="task", allow_custom_value=True, min_width=220, scale=2)
            status = gr.Markdown(first[0], elem_id="task-status")
            show_cycle = gr.Checkbox(label=first[3].get("label", CYCLE_LABEL), value=False, elem_id="show-cycle",
                                     interactive=first[3].get("interactive", True))
            where = gr.Radio([WHERE_DEVICE, WHERE_SERVER], value=WHERE_DEVICE if max_device_pixels() else WHERE_SERVER,
                             label="Where it runs", elem_id="translate-where",
                             info="On this device: your browser translates (the model is downloaded once); "
                                  "large pictures, and browsers that cannot, use the server.")
            run = gr.Button("Translate", variant="primary", elem_id="translate-button")
            run_server = gr.Button("Translate on the server", visible="hidden", elem_id="translate-server")
            examples = gr.Gallery(value=first[2].get("value"), label=first[2].get("label"),
                                  visible=first[2].get("visible", False), columns=4, height="auto", interactive=False,
                                  object_fit="contain", allow_preview=False, show_label=True, buttons=[],
                                  elem_id="task-examples")
            with gr.Accordion("About this task", open=False, elem_id="task-card-box"):
                card = gr.Markdown(first[1], elem_id="task-card")
            with gr.Accordion("Load a model from the Hub", open=False, elem_id="hub-box"):
                hub_repo = gr.Textbox(label="Hub repo id",
                                      placeholder="owner/repo[/subfolder][@revision]", elem_id="hub-repo")
                hub_load = gr.Button("Load model", elem_id="hub-load")
                hub_status = gr.Markdown(visible=False, elem_id="hub-status")  # checking, loaded, or why not
        with gr.Column(min_width=300):
            error = gr.Markdown(visible=False, elem_id="translate-error", elem_classes=["error-box"])
            with gr.Row(equal_height=False):  # while a translation runs: how far it is, and a way to stop it
                progress = gr.HTML(visible=False, elem_id="translate-progress", container=True, padding=True,
                                   scale=1, min_width=220)
                cancel = gr.Button("Cancel", variant="stop", size="md", visible=False, elem_id="translate-cancel",
                                   scale=0, min_width=90)
            image_out = gr.Image(label=RESULT_LABEL, type="pil", format="png",
                                 interactive=False, buttons=["download", "fullscreen"], elem_id="output-image")
            cycle_out = gr.Image(label="Back again: the reconstruction", type="pil", format="png",
                                 interactive=False, visible=False, elem_id="cycle-image")
            info = gr.Markdown(elem_id="translate-info")

    # The page's button streams a preview, progress and the result, and shows failures in the box (its
    # own progress box replaces Gradio's overlay); API clients call `translate` (errors as errors).
    by_name = {"image": image_out, "details": details, "error": error, "cycle": cycle_out, "info": info,
               "progress": progress, "cancel": cancel}
    device.wire(handlers, where, run, image_in, task, extra, visitor, show_cycle, by_name)
    shown = run_server.click(on_page, inputs=[image_in, task, extra, visitor],
                      outputs=[by_name[name] for name in PAGE_OUTPUTS], preprocess=False, show_progress="hidden",
                      api_visibility="private", concurrency_limit=1, concurrency_id="translate")
    # Cancel closes the running generator, which stops its worker thread within one progress call. The
    # box says so in a step after the run (`settle`): Gradio runs it once the run's last message is in.
    cancel.click(lambda: gr.update(visible=False), outputs=cancel, cancels=[shown], api_visibility="private",
                 queue=False)
    shown.then(handlers.settle, inputs=[progress, image_out], outputs=[progress, cancel, image_out], preprocess=False,
               api_visibility="private", queue=False)
    shown.then(user_errors(handlers.describe), inputs=[image_out, details, show_cycle], outputs=[cycle_out, info],
               api_visibility="private", concurrency_limit=1, concurrency_id="translate")
    api = gr.Button(visible=False, elem_id="translate-api")
    event = api.click(user_errors(for_api), inputs=[image_in, task, extra, visitor],
                      outputs=[image_out, details],
                      api_name="translate", preprocess=False, concurrency_limit=1, concurrency_id="translate")
    event.success(user_errors(handlers.describe), inputs=[image_out, details, show_cycle], outputs=[cycle_out, info],
                  api_visibility="private", concurrency_limit=1, concurrency_id="translate")

    task.change(handlers.choose, inputs=[task, extra, visitor], outputs=[status, card, examples, show_cycle, error],
                api_visibility="private", queue=False)
    group.input(handlers.choose_group, inputs=[group, task, extra, visitor], outputs=[task],
                api_visibility="private", queue=False)
    examples.select(handlers.pick_example, inputs=[task, extra, visitor], outputs=[image_in, error],
                    api_visibility="private", queue=False)
    # A new picture clears the last error; passing it through the door marks the upload as used (it is
    # kept while the visitor chooses a task, instead of expiring as an upload nobody used).
    image_in.input(lambda picture: gr.update(value="", visible=False), inputs=[image_in], outputs=[error],
                   api_visibility="private", queue=False, preprocess=False)
    # The page says it checks the Hub, and why a load failed, in the Hub box (no toast, no "Error" badge
    # over the task lists); API clients call `load_model` (errors as errors).
    api.click(user_errors(handlers.load_model), inputs=[hub_repo, extra, visitor], outputs=[task, extra, group],
              api_name="load_model", concurrency_limit=1, concurrency_id="load")
    gr.on([hub_load.click, hub_repo.submit], handlers.load_model_on_page,
          inputs=[hub_repo, extra, visitor], outputs=[task, extra, group, hub_status],
          api_name="load_model_page", api_visibility="private", concurrency_limit=1, concurrency_id="load")
    loaded.then(handlers.refresh, inputs=[task, extra, visitor], outputs=[task, group], api_visibility="private")
    # The chosen task's model, loaded and warmed up while the visitor picks a picture.
    task.change(handlers.prefetch, inputs=[task, extra, visitor], api_visibility="private", queue=False)
    loaded.then(handlers.prefetch, inputs=[task, extra, visitor], api_visibility="private", queue=False)
    build_video(handlers, task, extra, visitor)  # the same task list, for a clip
    build_webcam(handlers, task, extra, visitor)  # and for the camera, live
    return task, extra
