"""The Train tab: fine-tune on two uploaded unpaired image sets, watch it learn, use the result.

`TrainHandlers` holds the event handlers (plain methods, testable without a server);
`build_train_tab` lays out the components and wires them. Events (public API): `train` streams
a run (status, loss plot, previews, download, "Is it working?") and `stop` ends it after the
current step; `resume` continues a stored run; `doctor` checks one. Runs live in the model store
(`cyclegan_core.store`) with a copy of their data, so they survive restarts and show up in the
Translate tab at once.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

import gradio as gr
import pandas as pd

from cyclegan_core import ZOO, CycleGANError, ModelConfig, ModelStore, RunError, RunFolder, TrainConfig
from cyclegan_core.doctor import RECENT_PREVIEWS
from cyclegan_core.model_folder import zip_model_folder
from cyclegan_core.public_sources import resolve
from cyclegan_core.runs import expected_run_bytes
from cyclegan_core.store import StoredModel, runs_max_bytes
from cyclegan_core.train import CheckpointSaved, Event, Finished, Preview, Started, StepDone, train
from cyclegan_core.train_config import PRESETS
from cyclegan_core.trainer import LOSS_NAMES
from cyclegan_core.zoo import nearest_zoo_model

from .errors import user_errors
from .model_cache import ModelCache
from .training import (TrainingSlot, doctor_text, download_path, eta_text, inspect_domain, loss_rows, max_images,
                       upload_bytes)
from .translate_tab import task_choices
from .visitors import may_use, new_token, shared_runs, visitor_id

SMALL_PRESET = "small model from scratch (ngf 32, 6 blocks)"
PREVIEW_EVERY = 10
PLOT_EVERY_SECONDS = 2.0
CAPTIONS = {"real_A": "real {a}", "fake_B": "→ {b} (G)", "rec_A": "→ back to {a} (F)",
            "real_B": "real {b}", "fake_A": "→ {a} (F)", "rec_B": "→ back to {b} (G)"}
# The outputs every run handler yields, in this order (`visitor`: the session's token, set once).
OUTPUTS = ("status", "plot", "gallery", "download", "doctor", "task", "run_choice", "visitor")
SKIP_REST = 3  # gr.skip() for task, run_choice and visitor


class TrainHandlers:
    """The tab's event handlers over a model store, a model cache and the one training slot. Each
    takes the visitor's token (`visitors.py`): a visitor sees, resumes, stops, downloads and deletes
    only their own runs (all runs when `CYCLEGAN_SHARED_RUNS=1`)."""

    def __init__(self, cache: ModelCache, slot: TrainingSlot, store: ModelStore | None = None):
        self.cache, self.slot = cache, slot
        self.store = store or ModelStore()

    # --- what this visitor may use ---

    def models(self, token: str | None) -> list[StoredModel]:
        return [m for m in self.store.models() if may_use(m, token)]

    def own_model(self, run_name: str | None, token: str | None) -> StoredModel:
        """The model or run called `run_name` that this visitor may use; one that is not theirs reads
        like a missing one."""
        if not run_name:
            raise CycleGANError("choose one of your runs first")
        for model in self.models(token):
            if model.name == run_name:
                return model
        raise RunError(f"there is no run called {str(run_name)[:80]!r} of yours")

    def own_run(self, run_name: str | None, token: str | None) -> RunFolder:
        return RunFolder(self.own_model(run_name, token).path)

    def init_choices(self, token: str | None = None) -> list[tuple[str, str]]:
        """What a run can start from: a small model from scratch, a zoo model or one of the visitor's."""
        choices = [(SMALL_PRESET, "")]
        choices += [(f"{name} (official, {e.domain_a} ↔ {e.domain_b})", name) for name, e in ZOO.items()]
        choices += [(f"{m.name} (your model)", m.name) for m in self.models(token)]
        return choices

    def resumable_runs(self, token: str | None = None) -> list[str]:
        return [m.name for m in self.models(token) if m.resumable]

    def suggest_init(self, name_a: str, name_b: str, current: str, token: str | None = None):
        """Suggest the zoo model nearest the domain names; never replace a model the user picked."""
        if current in ("", *ZOO):
            return gr.update(choices=self.init_choices(token),
                             value=nearest_zoo_model(name_a or "", name_b or "") or "")
        return gr.update(choices=self.init_choices(token))

    def refresh(self, token: str | None = None):
        """On page load: start-from choices and resumable runs as they are now."""
        return gr.update(choices=self.init_choices(token)), gr.update(choices=self.resumable_runs(token))

    # --- uploads ---

    @staticmethod
    def describe(files: list[str] | None, name: str) -> str:
        return inspect_domain(files, (name or "").strip() or "?")[1]

    @staticmethod
    def add_folder(new: list[str] | None, current: list[str] | None) -> list[str]:
        return [*(current or []), *(new or [])]

    # --- runs ---

    def start(self, files_a, files_b, name_a, name_b, init_source, n_steps, crop_size, precision, lambda_cycle,
              lambda_identity, model_name, extra_tasks, token=None, progress=gr.Progress()):
        """Start a fresh run in the store on copies of the uploads; streams the OUTPUTS."""
        name_a, name_b = (name_a or "A").strip(), (name_b or "B").strip()
        for label, files in ((name_a, files_a), (name_b, files_b)):
            if not files:
                raise CycleGANError(f"domain {label} has no images yet: drop image files, a folder or a zip")
        token = token or new_token()  # an API caller's first run gives its session a token
        uploads = upload_bytes(files_a, files_b)
        source = resolve(init_source, self.store, lambda m: may_use(m, token)) if init_source else None  # no paths
        config = TrainConfig(steps=int(n_steps), crop_size=int(crop_size), precision=precision,
                             lambda_A=float(lambda_cycle), lambda_B=float(lambda_cycle),
                             lambda_identity=float(lambda_identity), init=source and source.init_source(),
                             domain_a=name_a, domain_b=name_b, preview_every=PREVIEW_EVERY,
                             checkpoint_every=max(50, int(n_steps) // 5), max_images=max_images(), **PRESETS["small"])
        architecture = source.config() if source else ModelConfig(ngf=config.ngf, n_blocks=config.n_blocks)
        self.store.make_room(uploads + expected_run_bytes(architecture, config), runs_max_bytes(),
                             keep=[self.slot.active] if self.slot.active else [])
        run = self.store.new_run(model_name or f"{name_a}2{name_b}")
        try:
            with self.slot.hold(run.path, visitor_id(token)) as stop:
                data_a, data_b = run.keep_data("A", files_a), run.keep_data("B", files_b)
                events = train(config, data_a, data_b, run.path, stop=stop, owner=visitor_id(token))
                yield from self.stream(events, run, extra_tasks, token, progress)
        except BaseException:
            run.delete_if_untrained()  # nothing was trained: drop the copied uploads
            raise

    def resume(self, run_name, n_steps, extra_tasks, token=None, progress=gr.Progress()):
        """Continue one of the visitor's runs to at least `n_steps` steps; streams the OUTPUTS."""
        run = self.own_run(run_name, token)
        steps = max(int(n_steps), run.read_record().config.steps if run.is_resumable() else 0)
        record = run.resume_record(steps=steps)
        with self.slot.hold(run.path, visitor_id(token)) as stop:
            events = train(record.config, record.data_a, record.data_b, run.path, resume=True, stop=stop)
            yield from self.stream(events, run, extra_tasks, token, progress)

    def stop(self, token: str | None = None) -> str:
        return self.slot.request_stop(visitor_id(token), shared=shared_runs())

    def download(self, run_name: str | None, token: str | None = None) -> str:
        """One of the visitor's models as a zip (config.json + model.safetensors)."""
        run = self.own_run(run_name, token)
        return str(zip_model_folder(run.path, download_path(run.name)))

    def doctor(self, run_name: str | None, token: str | None = None) -> str:
        """The "Is it working?" panel for one of the visitor's runs, from its saved log and latest
        previews (a run that is training saves its log at each checkpoint; its stream is live)."""
        if not run_name:
            return ""
        run = self.own_run(run_name, token)
        gan_mode = run.read_record().config.gan_mode if run.is_resumable() else "lsgan"
        return doctor_text(run.read_log(), run.read_previews(RECENT_PREVIEWS), gan_mode)

    def delete(self, run_name: str | None, extra_tasks, token: str | None = None):
        """Remove one of the visitor's runs: model, training state, previews and uploaded data."""
        model = self.own_model(run_name, token)
        if model.owner is None:
            raise RunError(f"{model.name} was placed here by the owner of this app; it cannot be deleted here")
        if self.slot.active == model.path:
            raise RunError(f"{model.name} is training; stop it first")
        self.store.delete(model.name)
        self.cache.forget(model.name)
        return (f"Deleted `{model.name}` with its training state and your images.",
                gr.update(choices=self.resumable_runs(token), value=None),
                gr.update(choices=task_choices(extra_tasks, token)))

    def stream(self, events: Iterator[Event], run: RunFolder, extra_tasks, token, progress) -> Iterator[tuple]:
        """Training events → page updates (the OUTPUTS). "Is it working?" is checked at each preview
        (a few milliseconds) on the losses so far and the latest previews."""
        records, previews = run.read_log(), run.read_previews(RECENT_PREVIEWS)
        names, last_plot, gan_mode = ("A", "B"), 0.0, "lsgan"
        skip = (gr.skip(),) * SKIP_REST
        with contextlib.closing(events):
            for event in events:
                if isinstance(event, Started):
                    names, gan_mode = (event.domain_a, event.domain_b), run.read_record().config.gan_mode
                    yield (self.started_text(event, run), gr.skip(), gr.skip(), gr.skip(),
                           doctor_text(records, previews, gan_mode), gr.skip(),
                           gr.update(choices=sorted({*self.resumable_runs(token), run.name}), value=run.name), token)
                elif isinstance(event, StepDone):
                    records.append({"step": event.step, **event.losses})
                    progress((event.step, event.total_steps), desc="training", unit="steps")
                    if time.monotonic() - last_plot > PLOT_EVERY_SECONDS or event.step == event.total_steps:
                        last_plot = time.monotonic()
                        yield (step_text(event), loss_frame(records), gr.skip(), gr.skip(), gr.skip(), *skip)
                elif isinstance(event, Preview):
                    previews = [*previews, event.images][-RECENT_PREVIEWS:]
                    pictures = [(img, CAPTIONS[key].format(a=names[0], b=names[1])) for key, img in event.images.items()]
                    yield gr.skip(), gr.skip(), pictures, gr.skip(), doctor_text(records, previews, gan_mode), *skip
                elif isinstance(event, CheckpointSaved):
                    self.cache.forget(run.name)
                elif isinstance(event, Finished):
                    self.cache.forget(run.name)
                    archive = zip_model_folder(run.path, download_path(run.name))
                    label = f"{run.name}: {names[0]} → {names[1]}"
                    yield (finished_text(event, run, label), loss_frame(records), gr.skip(), str(archive),
                           doctor_text(records, previews, gan_mode),
                           gr.update(choices=task_choices(extra_tasks, token), value=label),
                           gr.update(choices=self.resumable_runs(token), value=run.name), gr.skip())

    @staticmethod
    def started_text(event: Started, run: RunFolder) -> str:
        skipped = len(event.skipped_a) + len(event.skipped_b)
        return (f"{'Resuming' if event.resumed else 'Training'} **{event.domain_a} ↔ {event.domain_b}** in "
                f"`{run.name}`: {event.images_a} + {event.images_b} images"
                + (f" (skipped {skipped} unusable file(s))" if skipped else "")
                + f", {event.precision}; step {event.step} of {event.total_steps}. The first steps measure the speed…")


def step_text(event: StepDone) -> str:
    left = eta_text(event.seconds_per_step, event.total_steps - event.step)
    return (f"Step **{event.step} / {event.total_steps}** · {event.seconds_per_step:.2f} s/step · about {left} left · "
            f"cycle A {event.losses['cycle_A']:.3f}, D_B {event.losses['D_B']:.3f}")


def finished_text(event: Finished, run: RunFolder, label: str) -> str:
    return (f"{'Stopped' if event.stopped else 'Finished'} at step **{event.step} / {event.total_steps}**; "
            f"the model, its training state and your images are saved as `{run.name}`. Translate with "
            f"**{label}** in the Translate tab"
            + (", or press Resume to continue." if event.stopped else "."))


def loss_frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(loss_rows(records, LOSS_NAMES))


def build_train_tab(cache: ModelCache, slot: TrainingSlot, task: gr.Dropdown, extra: gr.State, visitor: gr.State,
                    loaded) -> None:
    """Create the tab in the current Blocks context and wire its events (`loaded`: the page-load
    event that sets `visitor`; `task` and `extra` are the Translate tab's)."""
    handlers = TrainHandlers(cache, slot)
    gr.Markdown("Upload two sets of photos that were **never paired** (say, your cats and your dogs), "
                "press Start, and watch both translations learn. Fine-tuning an existing model is what makes a "
                "short run on a CPU useful; the loss plot and the previews update as it trains.")
    domains = []
    with gr.Row(equal_height=False):
        for key, default in (("a", "A"), ("b", "B")):
            with gr.Column(variant="panel"):
                name = gr.Textbox(value=default, label=f"Domain {default}: name", elem_id=f"name-{key}")
                files = gr.File(file_count="multiple", type="filepath", label=f"Domain {default}: images or zip "
                                f"files", elem_id=f"files-{key}")
                folder = gr.UploadButton(f"Add a folder to {default}", file_count="directory",
                                         elem_id=f"folder-{key}")
                info = gr.Markdown(f"**{default}**: no files yet.", elem_id=f"info-{key}")
            domains.append((name, files, folder, info))
    with gr.Row():
        init = gr.Dropdown(choices=handlers.init_choices(), value="", label="Start from", elem_id="init", scale=2)
        steps = gr.Slider(10, 5000, value=300, step=10, label="Steps", elem_id="steps")
        crop = gr.Dropdown([64, 96, 128, 192, 256], value=128, label="Crop size (px)", elem_id="crop")
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            precision = gr.Radio(["auto", "fp32", "bf16"], value="auto", label="Precision",
                                 info="auto: bf16 only where the CPU runs it natively")
            lambda_cycle = gr.Slider(0, 20, value=10, step=0.5, label="λ cycle (Eq. 2)")
            lambda_identity = gr.Slider(0, 1, value=0.5, step=0.05, label="λ identity (× λ cycle)")
            run_name = gr.Textbox(label="Model name", placeholder="default: <A>2<B>", elem_id="run-name")
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="train-start")
        stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
    with gr.Row():
        run_choice = gr.Dropdown(choices=[], value=None, label="Your runs", elem_id="resume-run", scale=2)
        resume = gr.Button("Resume", elem_id="train-resume")
        fetch = gr.Button("Download", elem_id="train-fetch")
        delete = gr.Button("Delete", elem_id="train-delete")
    status = gr.Markdown("", elem_id="train-status")
    plot = gr.LinePlot(x="step", y="loss", color="term", label="Losses", elem_id="loss-plot")  # a set height cuts the legend off
    gallery = gr.Gallery(label="Previews: real → translated → back", columns=3, elem_id="previews", format="png")
    with gr.Accordion("Is it working?", open=True):
        doctor = gr.Markdown("Start a run or choose one of yours: its losses and previews are checked for the usual "
                             "ways a CycleGAN fails, with what to try.", elem_id="train-doctor")
    download = gr.File(label="Your model (config.json + model.safetensors, zipped)", elem_id="train-download")
    by_name = {"status": status, "plot": plot, "gallery": gallery, "download": download, "doctor": doctor,
               "task": task, "run_choice": run_choice, "visitor": visitor}
    outputs = [by_name[name] for name in OUTPUTS]

    for (name, files, folder, info), key in zip(domains, "ab"):
        folder.upload(handlers.add_folder, [folder, files], files, api_visibility="private")
        files.change(handlers.describe, [files, name], info, api_name=f"inspect_{key}")
    names = [domains[0][0], domains[1][0]]
    gr.on([n.blur for n in names] + [n.submit for n in names], handlers.suggest_init, [*names, init, visitor], init,
          api_visibility="private")
    start.click(user_errors(handlers.start),
                inputs=[domains[0][1], domains[1][1], domains[0][0], domains[1][0], init, steps, crop, precision,
                        lambda_cycle, lambda_identity, run_name, extra, visitor],
                outputs=outputs, api_name="train", concurrency_limit=1, concurrency_id="train")
    resume.click(user_errors(handlers.resume), inputs=[run_choice, steps, extra, visitor], outputs=outputs,
                 api_name="resume", concurrency_limit=1, concurrency_id="train")
    stop.click(handlers.stop, inputs=visitor, outputs=status, api_name="stop", queue=False)
    fetch.click(user_errors(handlers.download), inputs=[run_choice, visitor], outputs=download,
                api_name="download_run", concurrency_limit=4, concurrency_id="files")
    run_choice.input(user_errors(handlers.doctor), inputs=[run_choice, visitor], outputs=doctor, api_name="doctor",
                     concurrency_limit=4, concurrency_id="files")
    delete.click(user_errors(handlers.delete), inputs=[run_choice, extra, visitor], outputs=[status, run_choice, task],
                 api_name="delete_run", concurrency_limit=4, concurrency_id="files").success(
        lambda: "", outputs=doctor, api_visibility="private", queue=False)  # no checks of a run that is gone
    loaded.then(handlers.refresh, inputs=visitor, outputs=[init, run_choice], api_visibility="private")
