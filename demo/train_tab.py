"""The Train tab: fine-tune on two uploaded unpaired image sets, watch it learn, use the result.

`TrainHandlers` holds the event handlers (plain methods, testable without a server);
`build_train_tab` lays out the components and wires them. Events (public API): `train` streams
a run (status, loss plot, previews, download, "Is it working?") and `stop` ends it after the
current step; `resume` continues a stored run (one the Space's owner placed here, as a new run of
the visitor's own); `doctor` checks one; `publish_run` uploads one to
the Hugging Face Hub with a token used for that call only. Runs live in the model store
(`cyclegan_core.store`) with a copy of their data, so they survive restarts and show up in the
Translate tab at once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from typing import Any, Callable, Iterator

import gradio as gr
import pandas as pd

from cyclegan_core import ZOO, CycleGANError, ModelConfig, ModelStore, RunError, RunFolder, TrainConfig
from cyclegan_core.engine.runtime import CoreShare
from cyclegan_core.model.folder import zip_model_folder
from cyclegan_core.nn.losses import LOSS_NAMES
from cyclegan_core.public_sources import resolve
from cyclegan_core.sources.availability import Reachability, packaged_availability, zoo_availability
from cyclegan_core.sources.packaged import PACKAGED
from cyclegan_core.sources.zoo import nearest_zoo_model
from cyclegan_core.teaching.doctor import RECENT_PREVIEWS
from cyclegan_core.training.config import PRESETS
from cyclegan_core.training.loop import CheckpointSaved, Event, Finished, Preview, Started, StepDone
from cyclegan_core.training.runs import expected_run_bytes
from cyclegan_core.training.store import StoredModel, runs_max_bytes

from .errors import error_update, user_errors, visitor_message
from .model_cache import ModelCache
from .outputs import named
from .training import (Speedometer, TrainingSlot, doctor_text, download_path, eta_text, inspect_domain, loss_rows,
                       max_images, upload_bytes)
from .translate_tab import task_options
from .visitors import may_use, new_token, shared_runs, visitor_id
from .zerogpu import main_cpus, training_runner, work_device

SMALL_PRESET = "small model from scratch (ngf 32, 6 blocks)"
MAX_LR = 0.01  # Adam above this only diverges; the paper's rate is TrainConfig.lr (0.0002)
PREVIEW_EVERY = 10
PLOT_EVERY_SECONDS = 2.0
# The loss plots' x axis spans the run (its total steps), and at least this many steps: its ticks (about
# one per 40 px, at 1, 2 or 5 × 10ⁿ apart) then fall on whole steps on a plot up to ~600 px wide.
MIN_PLOT_STEPS = 10
# The losses in two plots of four lines each, so that each legend fits in one line on a phone (and the
# adversarial losses, around 0.1–1, are not flattened by the λ-weighted cycle losses).
PLOTS = {"plot": ("G_AB", "G_BA", "D_A", "D_B"), "cycle_plot": ("cycle_A", "cycle_B", "idt_A", "idt_B")}
assert sorted(sum(PLOTS.values(), ())) == sorted(LOSS_NAMES)
CAPTIONS = {"real_A": "real {a}", "fake_B": "→ {b} (G)", "rec_A": "→ back to {a} (F)",
            "real_B": "real {b}", "fake_A": "→ {a} (F)", "rec_B": "→ back to {b} (G)"}
# The outputs every run handler yields, in this order (`visitor`: the session's token, set once;
# `plot`, `cycle_plot`: the losses (PLOTS); `stop`: the Stop button, shown while the run goes; `error`:
# the box that shows why a run failed).
OUTPUTS = ("status", "plot", "gallery", "download", "doctor", "task", "run_choice", "visitor", "stop", "error",
           "cycle_plot")


def showing_errors(fn: Callable, shown: Callable[[str], Any], cleared: Any = None) -> Callable:
    """`fn` (wrapped by `user_errors`: it fails with a gr.Error) as a generator for the page: it first
    yields `cleared` (an earlier error goes), then what `fn` yields or returns; a failure is yielded
    as `shown(message)` and not raised: the message stays next to the outputs until the next action,
    where a raised one would be a toast that goes and an "Error" badge over every output. (API
    callers get the raising `fn` under the public api_name; see `build_train_tab`.)"""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if cleared is not None:
            yield cleared
        try:
            if inspect.isgeneratorfunction(fn):
                yield from fn(*args, **kwargs)
            else:
                yield fn(*args, **kwargs)
        except gr.Error as e:
            yield shown(str(e.message))
    return run


class TrainHandlers:
    """The tab's event handlers over a model store, a model cache and the one training slot. Each
    takes the visitor's token (`visitors.py`): a visitor sees, resumes, stops, downloads and deletes
    only their own runs (all runs when `CYCLEGAN_SHARED_RUNS=1`), by the names they gave them
    (`ModelStore.visible_models`); another visitor's run reads like a missing one. The models the
    Space's owner placed in the store are everyone's to use and no one's to change: resuming one
    trains a copy of the visitor's own (`resume`)."""

    def __init__(self, cache: ModelCache, slot: TrainingSlot, store: ModelStore | None = None,
                 clock: Callable[[], float] = time.monotonic, reach: Reachability | None = None,
                 share: CoreShare | None = None):
        self.cache, self.slot = cache, slot
        self.share = share or CoreShare(main_cpus())  # the CPUs, shared with the Translate tab's work
        self.store = store or ModelStore()
        self.reach = reach or Reachability()  # whether zoo models not here yet can be fetched
        self.clock = clock  # times the steps (the time left) and paces the plot's updates
        self.train = training_runner()  # `train`, or on ZeroGPU the run in GPU loans (`zerogpu`)

    # --- what this visitor may use ---

    def models(self, token: str | None) -> list[StoredModel]:
        """The models this visitor may use, by the names they know them by."""
        return self.store.visible_models(lambda m: may_use(m, token))

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
        model = self.own_model(run_name, token)
        return RunFolder(model.path, model.name)

    def init_choices(self, token: str | None = None, probe: bool = True) -> list[tuple[str, str]]:
        """What a run can start from now: a small model from scratch, the built-in one-way model (its G
        starts G, F starts fresh), a zoo model that is here or can be downloaded (saying so; `probe=False`,
        at start-up: every one, nothing said, nothing probed) or one of the visitor's."""
        choices = [(SMALL_PRESET, "")]
        for name, p in PACKAGED.items():  # built in, offline: its G starts the run's G, F starts fresh
            if packaged_availability(name).usable:
                choices.append((f"{p.domain_a} → {p.domain_b} (built in, one-way: G from it, F new)", name))
        for name, e in ZOO.items():
            state = zoo_availability(name, self.reach.why_not()) if probe else None
            if state is not None and not state.usable:
                continue  # not here and cannot be fetched now: not offered
            note = "" if state is None or state.ready else f" · {state.note}"
            choices.append((f"{name} (official, {e.domain_a} {'→' if e.one_way else '↔'} {e.domain_b}){note}", name))
        choices += [(f"{m.name} (your model)", m.name) for m in self.models(token)]
        return choices

    def resumable_runs(self, token: str | None = None) -> list[str]:
        return [m.name for m in self.models(token) if m.resumable]

    def suggest_init(self, name_a: str, name_b: str, current: str, token: str | None = None):
        """Suggest the zoo model nearest the domain names if it can be used now (here, or downloadable);
        never replace a model the user picked."""
        if current in ("", *ZOO):
            nearest = nearest_zoo_model(name_a or "", name_b or "")
            usable = nearest is not None and zoo_availability(nearest, self.reach.why_not()).usable
            return gr.update(choices=self.init_choices(token), value=nearest if usable else "")
        return gr.update(choices=self.init_choices(token))

    def refresh(self, token: str | None = None):
        """On page load: start-from choices, resumable runs as they are now, and Stop if one of this
        visitor's runs is training (say, after a reload)."""
        return (gr.update(choices=self.init_choices(token)), gr.update(choices=self.resumable_runs(token)),
                gr.update(visible=self.slot.stoppable_by(visitor_id(token), shared=shared_runs())))

    # --- uploads ---

    @staticmethod
    def describe(files: list[str] | None, name: str) -> str:
        return inspect_domain(files, (name or "").strip() or "?")[1]

    @staticmethod
    def add_folder(new: list[str] | None, current: list[str] | None) -> list[str]:
        return [*(current or []), *(new or [])]

    # --- runs ---

    def start(self, files_a, files_b, name_a, name_b, init_source, n_steps, crop_size, precision, lambda_cycle,
              lambda_identity, model_name, extra_tasks, token=None, progress=gr.Progress(), learning_rate=None):
        """Start a fresh run in the store on copies of the uploads; streams the OUTPUTS. `learning_rate`:
        Adam's (None: the paper's 0.0002, `TrainConfig.lr`)."""
        name_a, name_b = (name_a or "A").strip(), (name_b or "B").strip()
        for label, files in ((name_a, files_a), (name_b, files_b)):
            if not files:
                raise CycleGANError(f"domain {label} has no images yet: drop image files, a folder or a zip")
        token = token or new_token()  # an API caller's first run gives its session a token
        uploads = upload_bytes(files_a, files_b)
        source = resolve(init_source, self.store, lambda m: may_use(m, token)) if init_source else None  # no paths
        lr = TrainConfig.lr if learning_rate in (None, "") else float(learning_rate)
        if not 0 < lr <= MAX_LR:
            raise CycleGANError(f"the learning rate must be above 0 and at most {MAX_LR:g} (the paper's is "
                                f"{TrainConfig.lr:g}); {lr:g} was given")
        config = TrainConfig(steps=int(n_steps), crop_size=int(crop_size), precision=precision, lr=lr,
                             lambda_A=float(lambda_cycle), lambda_B=float(lambda_cycle),
                             lambda_identity=float(lambda_identity), init=source and source.init_source(),
                             domain_a=name_a, domain_b=name_b, preview_every=PREVIEW_EVERY,
                             checkpoint_every=max(50, int(n_steps) // 5), max_images=max_images(), **PRESETS["small"])
        architecture = source.config() if source else ModelConfig(ngf=config.ngf, n_blocks=config.n_blocks)
        self.store.make_room(uploads + expected_run_bytes(architecture, config), runs_max_bytes(),
                             keep=self.slot.holding())
        owner = visitor_id(token)  # the name is unique among this visitor's models, whatever others called theirs
        run = self.store.new_run(model_name or f"{name_a}2{name_b}", owner, lambda m: may_use(m, token))
        try:
            with self.slot.hold(run.path, owner, run.name) as stop:
                data_a, data_b = run.keep_data("A", files_a), run.keep_data("B", files_b)
                events = self.train(config, data_a, data_b, run.path, stop=stop, owner=owner, device=work_device())
                yield from self.stream(events, run, extra_tasks, token, progress)
        except BaseException:
            run.delete_if_untrained()  # nothing was trained: drop the copied uploads
            raise

    def resume(self, run_name, n_steps, extra_tasks, token=None, progress=gr.Progress()):
        """Continue one of the visitor's runs to at least `n_steps` steps; streams the OUTPUTS. A run
        the Space's owner placed here is not changed: a new run of the visitor's own continues it
        (`continue_owners`)."""
        model = self.own_model(run_name, token)
        if model.owner is None:
            yield from self.continue_owners(model, n_steps, extra_tasks, token, progress)
            return
        run = RunFolder(model.path, model.name)
        steps = max(int(n_steps), run.read_record().config.steps if run.is_resumable() else 0)
        record = run.resume_record(steps=steps)
        with self.slot.hold(run.path, visitor_id(token), run.name) as stop:
            events = self.train(record.config, record.data_a, record.data_b, run.path, resume=True, stop=stop,
                           device=work_device())
            yield from self.stream(events, run, extra_tasks, token, progress)

    def continue_owners(self, model: StoredModel, n_steps, extra_tasks, token, progress) -> Iterator[tuple]:
        """Resume a run the Space's owner placed here as a new run of the visitor's own (named like it,
        -2 …): a copy of its model, training state, log and previews, with its settings and its data,
        trained on to at least `n_steps` steps. The owner's folder is only read; a copy that trained
        nothing (refused, failed, closed) is removed."""
        source = RunFolder(model.path, model.name)
        if not source.is_resumable():
            raise RunError(f"{model.name} was placed here by the owner of this app without its training state, "
                           f"so it cannot be resumed; choose it under Start from to fine-tune it in a run of yours")
        steps = max(int(n_steps), source.read_record().config.steps)
        record = source.resume_record(steps=steps)  # refused here (say, no more steps asked) before anything is made
        token = token or new_token()  # an API caller's first run gives its session a token
        owner = visitor_id(token)
        self.store.make_room(expected_run_bytes(model.config, record.config), runs_max_bytes(),
                             keep=self.slot.holding())
        run = self.store.new_run(model.name, owner, lambda m: may_use(m, token))
        start = source.steps_done()
        note = (f"`{model.name}` was placed here by the owner of this app: it stays as it is, and your own run "
                f"`{run.name}` continues it. ")
        try:
            with self.slot.hold(run.path, owner, run.name) as stop:
                source.copy_to(run, owner)
                events = self.train(record.config, record.data_a, record.data_b, run.path, resume=True, stop=stop,
                               device=work_device())
                yield from self.stream(events, run, extra_tasks, token, progress, note)
        except BaseException:
            if _steps_done(run) <= start:
                run.delete()  # nothing of the visitor's own in it: no copy is left
            raise

    def resume_problem(self, run_name: str | None, token: str | None = None):
        """The error box at once when Resume cannot start (nothing chosen, not theirs), else emptied."""
        try:
            self.own_model(run_name, token)
        except CycleGANError as e:
            return error_update(visitor_message(e, "resume"), "Cannot resume")
        return error_update()

    def resume_check(self, run_name: str | None, token: str | None = None) -> None:
        """Lets the queued resume go only when it can start; a refusal is said by `resume_problem` (this
        one ends the chain without a toast or a badge)."""
        try:
            self.own_model(run_name, token)
        except CycleGANError:
            raise gr.Error("cannot resume", visible=False, print_exception=False) from None

    def stop(self, token: str | None = None) -> str:
        return self.slot.request_stop(visitor_id(token), shared=shared_runs())

    def publish(self, run_name: str | None, repo_id: str | None, hub_token: str | None, private: bool = False,
                token: str | None = None) -> str:
        """Upload one of the visitor's own runs to the Hub as `repo_id` (owner/name). `hub_token` is
        passed on for this call only: it is never kept, logged, or part of what is returned."""
        from cyclegan_core.publish import push_model

        model = self.own_model(run_name, token)
        if model.owner is None:
            raise RunError(f"{model.name} was placed here by the owner of this app; only your own runs can be "
                           f"published here")
        if self.slot.active == model.path:
            raise RunError(f"{model.name} is training; stop it or let it finish first")
        repo_id = (repo_id or "").strip()
        if not repo_id:
            raise CycleGANError("type the repository to publish to, as owner/name (say, your-name/cats2dogs)")
        secret = (hub_token or "").strip() or None
        if secret is None:  # push_model would fall back on this server's own login (HF_TOKEN): never a visitor's
            raise CycleGANError("paste a Hugging Face access token with write access (huggingface.co/settings/tokens)"
                                ": the model goes to your account, with your token")
        try:
            result = push_model(model.path, repo_id, token=secret, private=bool(private))
        except CycleGANError as e:  # push_model keeps the token out of its messages; so does this, whatever happens
            if secret in f"{e} {e.public or ''}":
                raise CycleGANError(str(e).replace(secret, "***"), (e.public or "").replace(secret, "***") or None) \
                    from None
            raise
        except Exception as e:  # noqa: BLE001 — not logged with its causes, where the token might show
            raise CycleGANError(f"publishing failed ({type(e).__name__}: {e})".replace(secret, "***")) from None
        return published_text(model.name, result, bool(private)).replace(secret, "***")

    def download(self, run_name: str | None, token: str | None = None) -> str:
        """One of the visitor's models as a zip (config.json + model.safetensors)."""
        run = self.own_run(run_name, token)
        return str(zip_model_folder(run.path, download_path(run.name), run.name))

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
        self.store.delete(model.folder)
        self.cache.forget(model.folder)  # the model cache knows a store model by its folder
        return (f"Deleted `{model.name}` with its training state and your images.",
                gr.update(choices=self.resumable_runs(token), value=None),
                gr.update(choices=task_options(extra_tasks, token, self.reach)))

    def stream(self, events: Iterator[Event], run: RunFolder, extra_tasks, token, progress,
               note: str = "") -> Iterator[tuple]:
        """Training events → page updates (the OUTPUTS). "Is it working?" is checked at each preview
        (a few milliseconds) on the losses so far and the latest previews. `run` is named as its
        visitor knows it; `note` goes before the first status."""
        records, previews = run.read_log(), run.read_previews(RECENT_PREVIEWS)
        names, last_plot, gan_mode = ("A", "B"), None, "lsgan"
        speed = Speedometer(self.clock)  # this session's steps only: not the resumed run's earlier ones
        with contextlib.closing(events):
            for event in self.share.iterate(events):  # its CPU share, beside translations
                if isinstance(event, Started):
                    names, gan_mode = (event.domain_a, event.domain_b), run.read_record().config.gan_mode
                    yield named(OUTPUTS, status=note + self.started_text(event, run),
                                  doctor=doctor_text(records, previews, gan_mode),
                                  run_choice=gr.update(choices=sorted({*self.resumable_runs(token), run.name}),
                                                       value=run.name),
                                  visitor=token, stop=gr.update(visible=True), error=error_update())
                elif isinstance(event, StepDone):
                    records.append({"step": event.step, **event.losses})
                    seconds_per_step = speed.step_done(event.step)
                    progress((event.step, event.total_steps), desc="training", unit="steps")
                    now = self.clock()
                    if last_plot is None or now - last_plot > PLOT_EVERY_SECONDS or event.step == event.total_steps:
                        last_plot = now
                        yield named(OUTPUTS, status=step_text(event, seconds_per_step),
                                    **loss_plots(records, event.total_steps))
                elif isinstance(event, Preview):
                    previews = [*previews, event.images][-RECENT_PREVIEWS:]
                    pictures = [(img, CAPTIONS[key].format(a=names[0], b=names[1])) for key, img in event.images.items()]
                    yield named(OUTPUTS, gallery=pictures, doctor=doctor_text(records, previews, gan_mode))
                elif isinstance(event, CheckpointSaved):
                    self.cache.forget(run.path.name)  # the model cache knows a store model by its folder
                elif isinstance(event, Finished):
                    self.cache.forget(run.path.name)
                    archive = zip_model_folder(run.path, download_path(run.name), run.name)
                    label = f"{run.name}: {names[0]} → {names[1]}"
                    yield named(OUTPUTS, status=finished_text(event, run, label),
                                **loss_plots(records, event.total_steps),
                                  download=str(archive), doctor=doctor_text(records, previews, gan_mode),
                                  task=gr.update(choices=task_options(extra_tasks, token, self.reach), value=label),
                                  run_choice=gr.update(choices=self.resumable_runs(token), value=run.name),
                                  stop=gr.update(visible=False))

    @staticmethod
    def started_text(event: Started, run: RunFolder) -> str:
        skipped = len(event.skipped_a) + len(event.skipped_b)
        return (f"{'Resuming' if event.resumed else 'Training'} **{event.domain_a} ↔ {event.domain_b}** in "
                f"`{run.name}`: {event.images_a} + {event.images_b} images"
                + (f" (skipped {skipped} unusable file(s))" if skipped else "")
                + f", {event.precision}; step {event.step} of {event.total_steps}. The first steps measure the speed…")


def _steps_done(run: RunFolder) -> int:
    """The steps in a run's saved state; 0 for a state that cannot be read."""
    try:
        return run.steps_done()
    except (CycleGANError, OSError, ValueError, KeyError):
        return 0


def step_text(event: StepDone, seconds_per_step: float | None) -> str:
    """The status line at a step; the speed is this session's (`Speedometer`), None until measured."""
    if seconds_per_step is None:
        speed = "measuring the speed…"
    else:
        speed = (f"{seconds_per_step:.2f} s/step · about {eta_text(seconds_per_step, event.total_steps - event.step)} "
                 f"left")
    return (f"Step **{event.step} / {event.total_steps}** · {speed} · "
            f"cycle A {event.losses['cycle_A']:.3f}, D_B {event.losses['D_B']:.3f}")


def finished_text(event: Finished, run: RunFolder, label: str) -> str:
    return (f"{'Stopped' if event.stopped else 'Finished'} at step **{event.step} / {event.total_steps}**; "
            f"the model, its training state and your images are saved as `{run.name}`. Translate with "
            f"**{label}** in the Translate tab"
            + (", or press Resume to continue." if event.stopped else "."))


def published_text(name: str, result, private: bool) -> str:
    """What the page says after a run was pushed: where it is and how to load it back."""
    repo = result.repo_id
    files = len(result.files) if getattr(result, "files", None) else None
    return (f"Published `{name}` to [{repo}]({result.url})" + (" (private)" if private else "")
            + (f": {files} file(s)." if files else ".")
            + f"\nLoad it back in Python with `cyclegan_core.load(\"{repo}\")`, or type `{repo}` into the "
              f"Translate tab's Hub box (*Load a model from the Hub*)"
            + (" — a private repository needs a token there." if private else "."))


def loss_frame(records: list[dict], terms: tuple[str, ...] = LOSS_NAMES) -> pd.DataFrame:
    frame = pd.DataFrame(loss_rows(records, terms))
    return frame.astype({"step": "int64"})


def loss_plots(records: list[dict], total_steps: int = 0) -> dict[str, dict]:
    """The plots' updates (PLOTS): the losses so far, on an x axis of the run's whole steps (see
    MIN_PLOT_STEPS)."""
    last = max((int(r["step"]) for r in records), default=0)
    return {name: gr.update(value=loss_frame(records, terms), x_lim=[0, max(last, total_steps, MIN_PLOT_STEPS)])
            for name, terms in PLOTS.items()}


def build_train_tab(cache: ModelCache, slot: TrainingSlot, task: gr.Dropdown, extra: gr.State, visitor: gr.State,
                    loaded, share: CoreShare | None = None) -> None:
    """Create the tab in the current Blocks context and wire its events (`loaded`: the page-load
    event that sets `visitor`; `task` and `extra` are the Translate tab's; `share` the CPUs, shared
    with translations)."""
    handlers = TrainHandlers(cache, slot, share=share)
    gr.Markdown("Upload two sets of photos that were **never paired** (say, your cats and your dogs), "
                "press Start, and watch both translations learn. Fine-tuning an existing model is what makes a "
                "short run on a CPU useful; the loss plot and the previews update as it trains.")
    domains = []
    with gr.Row(equal_height=False):
        for key, default in (("a", "A"), ("b", "B")):
            with gr.Column(variant="panel", min_width=240):
                name = gr.Textbox(value=default, label=f"Domain {default}: name", elem_id=f"name-{key}")
                files = gr.File(file_count="multiple", type="filepath", label=f"Domain {default}: images or zip "
                                f"files", elem_id=f"files-{key}")
                folder = gr.UploadButton(f"Add a folder to {default}", file_count="directory",
                                         elem_id=f"folder-{key}")
                info = gr.Markdown(f"**{default}**: no files yet.", elem_id=f"info-{key}")
            domains.append((name, files, folder, info))
    # Rows wrap on a narrow screen: each control keeps a width its label fits in.
    with gr.Row(equal_height=False):
        init = gr.Dropdown(choices=handlers.init_choices(probe=False), value="", label="Start from", elem_id="init", scale=2,
                           min_width=280)
        steps = gr.Slider(10, 5000, value=300, step=10, label="Steps", elem_id="steps", min_width=200)
        crop = gr.Dropdown([64, 96, 128, 192, 256], value=128, label="Crop size (px)", elem_id="crop", min_width=140)
    with gr.Accordion("More settings", open=False):
        with gr.Row(equal_height=False):  # the λ sliders: wide enough for their labels beside their numbers
            lambda_cycle = gr.Slider(0, 20, value=10, step=0.5, label="λ cycle (Eq. 3)", min_width=300)
            lambda_identity = gr.Slider(0, 1, value=0.5, step=0.05, label="λ identity (× λ cycle, Sec. 5.2)",
                                        min_width=300)
        with gr.Row(equal_height=False):
            precision = gr.Radio(["auto", "fp32", "bf16"], value="auto", label="Precision",
                                 info="auto: bf16 only where the CPU runs it natively", min_width=240)
            learning_rate = gr.Number(value=TrainConfig.lr, minimum=0, maximum=MAX_LR, step=0.00005,
                                      label="Learning rate (Adam; the paper's: 0.0002)", elem_id="learning-rate",
                                      min_width=240)
            run_name = gr.Textbox(label="Model name", placeholder="default: <A>2<B>", elem_id="run-name",
                                  min_width=200)
    with gr.Row(equal_height=False):
        start = gr.Button("Start training", variant="primary", elem_id="train-start", min_width=160)
        stop = gr.Button("Stop", variant="stop", elem_id="train-stop", visible=False, min_width=120)  # while it runs
    with gr.Row(equal_height=False):
        run_choice = gr.Dropdown(choices=[], value=None, label="Your runs", elem_id="resume-run", scale=2,
                                 min_width=240)
        resume = gr.Button("Resume", elem_id="train-resume", min_width=100)
        fetch = gr.Button("Download", elem_id="train-fetch", min_width=100)
        delete = gr.Button("Delete", elem_id="train-delete", min_width=100)
    status = gr.Markdown("", elem_id="train-status")
    error = gr.Markdown("", elem_id="train-error", visible=False, line_breaks=True,  # why the last run failed
                        elem_classes=["error-box"])
    with gr.Row(equal_height=False):  # side by side on a wide screen, one above the other on a phone
        with gr.Column(min_width=320):
            # No fixed height: a set height cuts the legend off. Whole steps on the x axis (see loss_plots).
            plot, cycle_plot = (gr.LinePlot(x="step", y="loss", color="term", label=label, elem_id=elem_id,
                                            x_axis_format="d", x_lim=[0, MIN_PLOT_STEPS])
                                for label, elem_id in (("Adversarial losses", "loss-plot"),
                                                   ("Cycle and identity losses", "cycle-plot")))
        # Both cycles whole, with no inner scrolling: real → translated → back, A above, B below. (Gradio's
        # height="auto" caps a gallery at 55% of the window and scrolls inside it; "fit-content" does not.)
        gallery = gr.Gallery(label="Previews: real → translated → back", columns=3, rows=2, height="fit-content",
                             object_fit="contain", allow_preview=True, elem_id="previews", format="png",
                             min_width=300)
    with gr.Accordion("Is it working?", open=True):
        doctor = gr.Markdown("Start a run or choose one of yours: its losses and previews are checked for the usual "
                             "ways a CycleGAN fails, with what to try.", elem_id="train-doctor")
    download = gr.File(label="Your model (config.json + model.safetensors, zipped)", elem_id="train-download")
    with gr.Accordion("Publish to the Hugging Face Hub", open=False, elem_id="train-publish-box"):
        gr.Markdown("Upload the run chosen in **Your runs** as a model repository of your own. The token (a "
                    "*write* token from huggingface.co/settings/tokens) is used for this upload only: it is not "
                    "kept, and the box is emptied afterwards.")
        with gr.Row(equal_height=False):
            hub_repo = gr.Textbox(label="Repository (owner/name)", placeholder="your-name/cats2dogs",
                                  elem_id="publish-repo", min_width=220)
            hub_token = gr.Textbox(label="Hugging Face token", type="password", placeholder="hf_…",
                                   elem_id="publish-token", min_width=220)
        with gr.Row(equal_height=False):
            hub_private = gr.Checkbox(label="Private repository", elem_id="publish-private", min_width=160)
            publish = gr.Button("Publish", elem_id="train-publish", min_width=120)
        published = gr.Markdown("", elem_id="publish-result", line_breaks=True)
    by_name = {"status": status, "plot": plot, "gallery": gallery, "download": download, "doctor": doctor,
               "task": task, "run_choice": run_choice, "visitor": visitor, "stop": stop, "error": error,
               "cycle_plot": cycle_plot}
    run_outputs = [by_name[name] for name in OUTPUTS]

    # The page's Start, Resume and Publish show a failure in the page (`showing_errors`); API callers
    # get the same events under their public names from `api`, a button never shown, and an error raised.
    api = gr.Button(visible=False, elem_id="train-api")

    def run_failed(message: str) -> tuple:
        return named(OUTPUTS, error=error_update(message, "Training failed"), stop=gr.update(visible=False))

    def wire(button, fn, inputs, outputs_, api_name, shown, cleared, page_options=None, **options):
        api.click(user_errors(fn), inputs=inputs, outputs=outputs_, api_name=api_name, **options)
        return button.click(showing_errors(user_errors(fn), shown, cleared), inputs=inputs, outputs=outputs_,
                            api_name=f"{api_name}_page", api_visibility="private", **(page_options or {}),
                            **options)  # its own name

    # A run's place in the queue and its progress show on the status line only, not over every output
    # (the run list, the task list, the download box…).
    on_status = {"show_progress_on": [status]}

    for (name, files, folder, info), key in zip(domains, "ab"):
        folder.upload(handlers.add_folder, [folder, files], files, api_visibility="private")
        files.change(handlers.describe, [files, name], info, api_name=f"inspect_{key}")
    names = [domains[0][0], domains[1][0]]
    gr.on([n.blur for n in names] + [n.submit for n in names], handlers.suggest_init, [*names, init, visitor], init,
          api_visibility="private")
    wire(start, handlers.start, [domains[0][1], domains[1][1], domains[0][0], domains[1][0], init, steps, crop,
                                 precision, lambda_cycle, lambda_identity, run_name, extra, visitor, learning_rate],
         run_outputs, "train", run_failed, named(OUTPUTS, error=error_update(), status="Preparing the run: "
                                                 "copying your pictures and loading the model…"),
         page_options=on_status, concurrency_limit=1, concurrency_id="train")
    # Resume's checks need no queue: they answer at once in the error box, and only a run that passes them
    # waits for the training slot (`resume_check`, then the queued resume).
    resume.click(handlers.resume_problem, inputs=[run_choice, visitor], outputs=error, api_visibility="private",
                 queue=False)
    api.click(user_errors(handlers.resume), inputs=[run_choice, steps, extra, visitor], outputs=run_outputs,
              api_name="resume", concurrency_limit=1, concurrency_id="train")
    resume.click(handlers.resume_check, inputs=[run_choice, visitor], api_visibility="private", queue=False).success(
        showing_errors(user_errors(handlers.resume), run_failed, named(OUTPUTS, error=error_update())),
        inputs=[run_choice, steps, extra, visitor], outputs=run_outputs, api_name="resume_page",
        api_visibility="private", concurrency_limit=1, concurrency_id="train", **on_status)
    stop.click(handlers.stop, inputs=visitor, outputs=status, api_name="stop", queue=False).then(
        lambda: gr.update(visible=False), outputs=stop, api_visibility="private", queue=False)  # asked once is enough
    fetch.click(user_errors(handlers.download), inputs=[run_choice, visitor], outputs=download,
                api_name="download_run", concurrency_limit=4, concurrency_id="files")
    run_choice.input(user_errors(handlers.doctor), inputs=[run_choice, visitor], outputs=doctor, api_name="doctor",
                     concurrency_limit=4, concurrency_id="files")
    delete.click(user_errors(handlers.delete), inputs=[run_choice, extra, visitor], outputs=[status, run_choice, task],
                 api_name="delete_run", concurrency_limit=4, concurrency_id="files").success(
        lambda: "", outputs=doctor, api_visibility="private", queue=False)  # no checks of a run that is gone
    wire(publish, handlers.publish, [run_choice, hub_repo, hub_token, hub_private, visitor], published, "publish_run",
         lambda message: f"**Could not publish:**\n{message}", "", concurrency_limit=1, concurrency_id="publish").then(
        lambda: "", outputs=hub_token, api_visibility="private", queue=False)  # the token is used once
    loaded.then(handlers.refresh, inputs=visitor, outputs=[init, run_choice, stop], api_visibility="private")
