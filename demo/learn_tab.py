"""The Learn tab: a teacher shows how CycleGAN works, live, one idea per minute.

Five views over `cyclegan_core`'s teaching modules (every number is computed there):
1. The cycle (`explain.py`): x → G(x) → F(G(x)) with the per-pixel cycle error, the backward
   cycle and the identity view, each with a sentence and its equation.
2. Hidden information (`steganography.py`): the faint high frequencies of G(x), and how a little
   noise or JPEG on G(x) moves F(G(x)).
3. The discriminator (`discriminators.py`): the PatchGAN's map over a real and a translated picture,
   with one patch's 70×70 receptive field drawn; D-only training for models released without D.
4. Lessons (`lessons.py`): recorded small experiments played back as a timeline.
5. Train it yourself (`live.py`): a tiny CycleGAN on built-in synthetic pictures, one step at a time.

`LearnHandlers` holds the handlers (plain methods, testable without a server); `build_learn_tab`
lays out and wires them. Views 1–3 work with any model the Translate tab offers and with the
toy models (`cyclegan_core.teaching.toy_models`, trained here on the synthetic tasks, so the tab works offline).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd
import torch
from PIL import Image, ImageDraw, ImageFont

from cyclegan_core import CycleGAN, ModelNotFoundError, ModelStore, load_model
from cyclegan_core.engine.images import tensor_to_image
from cyclegan_core.nn.losses import LOSS_NAMES
from cyclegan_core.model.folder import is_model_folder
from cyclegan_core.public_sources import PublicSource, resolve
from cyclegan_core.sources.availability import Reachability
from cyclegan_core.teaching.doctor import diagnose, summary
from cyclegan_core.teaching.flicker import TEXT as FLICKER_TEXT, flicker_view
from cyclegan_core.teaching.explain import (BACKWARD_TEXT, CYCLE_EQUATION, CYCLE_TEXT, IDENTITY_EQUATION, IDENTITY_TEXT,
                                   fit_for_teaching, forward_cycle, identity_view, model_translator)
from cyclegan_core.teaching.lessons import METRICS, RecordedLesson, load_lessons
from cyclegan_core.teaching.live import LiveFinished, LivePreview, LiveRun, LiveStep, image_grid
from cyclegan_core.teaching.patch_maps import (EQUATION as D_EQUATION, TEXT as D_TEXT, Discriminators,
                                          discriminators_bytes, find_discriminators, mark_patch, overlay,
                                          patch_scores, receptive_field, save_discriminators, train_discriminators)
from cyclegan_core.teaching.steganography import (AMOUNTS, UNITS, amplified, degrade, describe_curve, hidden_signal,
                                         reconstruction_curve, smoothed)
from cyclegan_core.teaching.synthetic import SYNTHETIC_TASKS
from cyclegan_core.teaching.toy_models import TOY_TASKS, example_pictures, make_toy_model
from cyclegan_core.training.runs import RunFolder
from cyclegan_core.training.store import runs_max_bytes

from .errors import in_the_box, page_and_api, user_errors, visitor_message
from .model_cache import ModelCache
from .training import TrainingSlot
from .tasks import Task, all_tasks, parse_task
from .translate_tab import task_options, visitor_image
from .visitors import may_use, new_token, visitor_id
from .zerogpu import on_device, on_gpu

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
MAX_SIDE = 256  # pictures are shown and computed at ≤ 256 px: every view answers in seconds on 2 cores
INTRO = """### How CycleGAN works — one idea per minute
Pick a model and a picture of its input domain (a second picture of the other domain adds the backward
cycle, the identity view and real pictures for the discriminator), then open a view: **Cycle** (the round
trip and its error), **Hidden** (what the cycle hides), **Discriminator** (what D looks at), **Lessons**
(recorded experiments, played at once) and **Try it** (train a tiny CycleGAN yourself). Everything runs
on this machine, offline."""


LESSONS = Path(__file__).parent / "lessons"
SHORT_UNITS = {"noise": "noise σ", "jpeg": "JPEG q"}  # captions: the slider says the units in full
FRAME_LABEL = "Frame of the recording (drag to scrub)"
TOY_STEPS, TOY_SECONDS = 400, 40.0  # a toy model's first training: whichever ends first


def d_training_seconds() -> float:
    """How long "train a discriminator" may run (`CYCLEGAN_LEARN_D_SECONDS`, at most 60)."""
    return min(60.0, float(os.environ.get("CYCLEGAN_LEARN_D_SECONDS", "45")))


@dataclass(frozen=True)
class Chosen:
    """A model chosen for a view: G is the task's direction, F the way back; `source_domain` is x's."""

    model: CycleGAN
    task: Task
    home: Path | None  # the model's own folder: what came with it (its discriminators); read, never written
    toy: bool
    # Where this visitor keeps what they train for the model: their own run's folder, else their own space
    # in the store (`PublicSource.visitor_home`); None: nowhere (no visitor id, a toy model).
    keep: Path | None = None

    @property
    def G(self):
        return model_translator(self.model, self.task.direction)

    @property
    def F(self):
        return model_translator(self.model, "BtoA" if self.task.direction == "AtoB" else "AtoB")

    @property
    def domains(self) -> tuple[str, str]:
        """(x's domain, G(x)'s domain) as the D's call them: ("A", "B") for AtoB."""
        return ("A", "B") if self.task.direction == "AtoB" else ("B", "A")

    @property
    def names(self) -> tuple[str, str]:
        a, b = self.model.config.domain_a, self.model.config.domain_b
        return (a, b) if self.task.direction == "AtoB" else (b, a)


class LearnHandlers:
    """The tab's handlers over the app's model cache and store. The toy models
    (`cyclegan_core.teaching.toy_models`: tiny CycleGANs on the synthetic tasks, offered before the zoo) live in
    the store's `.toy/` folder; one is trained the first time it is asked for (≤ 40 s), then kept."""

    def __init__(self, cache: ModelCache, store: ModelStore | None = None, toy: tuple[str, ...] = TOY_TASKS,
                 lessons: Path = LESSONS, slot: TrainingSlot | None = None, reach: Reachability | None = None):
        self.cache, self.store = cache, store or ModelStore()
        self.reach = reach or Reachability()  # whether zoo models not here yet can be fetched
        self.slot = slot or TrainingSlot()  # the Train tab's: its run is kept when room is made on disk
        self.toy = {name: self.store.root / ".toy" / name for name in toy}
        self.toy_models: dict[str, CycleGAN] = {}
        self.toy_lock = threading.Lock()  # one request trains a missing toy model; the others wait
        self.lessons_folder = lessons
        self.recorded: dict[str, RecordedLesson] | None = None  # read on first use
        self.playing: set[str] = set()  # the lessons playing now, by play (one per page's Play)
        self.paused: set[str] = set()  # those asked to pause (each one's play ends before its next frame)

    # --- choosing a model and pictures ---

    def toy_tasks(self) -> list[Task]:
        tasks = []
        for name in self.toy:
            a, b = SYNTHETIC_TASKS[name].domain_a.name, SYNTHETIC_TASKS[name].domain_b.name
            tasks.append(Task(f"toy:{name}", "AtoB", f"toy: {a} → {b}"))
            tasks.append(Task(f"toy:{name}", "BtoA", f"toy: {b} → {a}"))
        return tasks

    def examples(self) -> list[list[str]]:
        """[x, y, task label]: example pictures of each synthetic task (drawn once into the store)."""
        rows = []
        for task in self.toy_tasks():
            name = task.source.split(":", 1)[1]
            pictures = example_pictures(name, self.store.root / ".toy" / "examples" / name)
            src, dst = ("A", "B") if task.direction == "AtoB" else ("B", "A")
            rows.append([str(pictures[src][0]), str(pictures[dst][0]), task.label])
        return rows

    def options(self, extra: list[dict] | None, token: str | None, probe: bool = True) -> list[tuple[str, str]]:
        """(shown text, task label) of what the views can use now: the toy models (always: trained here),
        then the two-way models this visitor may use (the built-in and zoo ones marked as in the Translate
        tab, those that cannot be had now left out; their own runs and Hub models as they are).
        `probe=False` (at start-up): the toy models only, nothing probed."""
        toy = [(t.label, t.label) for t in self.toy_tasks()]
        if not probe:
            return toy
        usable = [(shown, label) for shown, label in task_options(extra, token, self.reach)
                  if " · unavailable" not in shown]
        two_way = {t.label for t in all_tasks([Task(**t) for t in extra or []], self.store,
                                              lambda model: may_use(model, token)) if not t.one_way}
        return toy + [(shown, label) for shown, label in usable if label in two_way]

    def choices(self, extra: list[dict] | None, token: str | None) -> list[str]:
        return [label for _, label in self.options(extra, token)]

    def refresh(self, current: str, extra: list[dict] | None, token: str | None = None):
        """The model list as it is now (on page load and when the tab is opened: a run trained since, a
        model fetched or a network gone), keeping the visitor's choice while it can be used."""
        options = self.options(extra, token)
        labels = [label for _, label in options]
        return gr.update(choices=options, value=current if current in labels else labels[0])

    def choose(self, task_text: str, extra: list[dict] | None, token: str | None, progress=None) -> Chosen:
        """The model and direction of `task_text` among this visitor's (another visitor's run reads like a
        missing model), with where its discriminators are found and where this visitor's are kept.
        `progress` (Gradio's) hears how the first training of a toy model goes."""
        visible = [*(Task(**t) for t in extra or [])]
        task = parse_task(task_text, [*self.toy_tasks(), *all_tasks(visible, self.store,
                                                                          lambda model: may_use(model, token))])
        if task.source.startswith("toy:"):
            name = task.source.split(":", 1)[1]
            if name not in self.toy:
                raise gr.Error(f"There is no toy model called {name[:40]!r}.", print_exception=False)
            return Chosen(self.toy_model(name, progress), task, self.toy[name], True)
        source = resolve(task.source, self.store, visible=lambda model: may_use(model, token))
        if progress is not None:  # a zoo model's first use downloads it: the wait is named
            progress(0.0, desc=f"Loading the model of {task.label}…")
        try:
            model = self.cache.get(source.key)
        except ModelNotFoundError as e:  # said in this tab's words: what works here without it
            raise gr.Error(f"{task.label} cannot be used right now: {visitor_message(e, 'learn').splitlines()[0]} In this tab, the "
                           f"toy models (at the top of the list) always work, offline too.",
                           print_exception=False) from None
        if model.one_way:
            raise gr.Error(f"{task.label} is a one-way model (released without a reverse generator): the Learn "
                           f"tab's views need both G and F. Choose a two-way task.", print_exception=False)
        return Chosen(model, task, source.home(self.store), False, self.keeping(source, token))

    def toy_model(self, name: str, progress=None) -> CycleGAN:
        """The toy model `name`, trained the first time it is asked for (≤ TOY_SECONDS, then kept in the
        store): `progress` hears at once that it is training and then how far it is, so nobody waits in
        silence. A second visitor asking meanwhile waits for the same training, and is told so."""
        title = SYNTHETIC_TASKS[name].title
        if name not in self.toy_models and progress is not None and self.toy_lock.locked():
            progress(0.0, desc=f"The toy model '{title}' is being trained for its first use (about "
                               f"{TOY_SECONDS:.0f} s, once)…")
        with self.toy_lock:
            if name not in self.toy_models:
                report = None
                if progress is not None and not is_model_folder(self.toy[name]):
                    start = time.monotonic()
                    about = (f"Training the toy model '{title}' for its first use: about {TOY_SECONDS:.0f} s, "
                             f"once (it is kept)")
                    progress(0.0, desc=f"{about}…")

                    def report(preview: LivePreview):
                        done = max(preview.step / TOY_STEPS, (time.monotonic() - start) / TOY_SECONDS)
                        progress(min(0.99, done), desc=f"{about}: step {preview.step}, cycle error "
                                                       f"{preview.cycle_error:.3f}")
                self.toy_models[name] = load_model(make_toy_model(name, self.toy[name], steps=TOY_STEPS,
                                                                  seconds=TOY_SECONDS, progress=report))
        return self.toy_models[name]

    def keeping(self, source: PublicSource, token: str | None) -> Path | None:
        """Where this visitor keeps what they train for `source`: their own run's folder, else their own
        space in the store, never the folder of a model the Space's owner placed here, of the zoo or of
        another visitor (also when runs are shared); None without a visitor id."""
        owner = visitor_id(token)
        if owner is None:
            return None
        if source.kind == "store" and source.stored.owner == owner:
            return source.stored.path
        return source.visitor_home(owner, self.store)

    @staticmethod
    def require(payload) -> None:
        if payload is None:
            raise gr.Error("Add a picture first: one of the task's input domain (x), or click an example.",
                           print_exception=False)

    @staticmethod
    def picture(payload, required: bool = True) -> torch.Tensor | None:
        if payload is None and not required:
            return None
        return fit_for_teaching(visitor_image(payload), MAX_SIDE)

    # --- 1. the cycle ---

    def cycle(self, payload_x, payload_y, task_text: str, extra: list[dict] | None, token: str | None = None,
              progress=gr.Progress()):
        """(x[, y], task) → galleries of the forward cycle, the backward cycle and both identity views, with texts."""
        self.require(payload_x)  # said at once, before any model is trained or loaded
        chosen = self.choose(task_text, extra, token, progress)
        x, y = self.picture(payload_x), self.picture(payload_y, required=False)
        src, dst = chosen.names
        forward = forward_cycle(x, chosen.G, chosen.F)
        # Short captions (a phone shows two pictures a row): what each picture is, the model's domains.
        forward_gallery = _gallery(forward.pictures(), ["x: the input", f"G(x): as {dst}", f"F(G(x)): as {src}"],
                                   forward.heat_map(), f"|F(G(x)) − x|: {forward.mean_error:.3f}")
        forward_text = _explained(CYCLE_TEXT, CYCLE_EQUATION,
                                  f"Cycle error of this picture: **{forward.mean_error:.3f}** (mean absolute "
                                  f"difference in the network's [-1, 1] units; ×λ = 10 in training).")
        same_x = identity_view(x, chosen.F)
        identity_gallery = list(zip(same_x.pictures() + [same_x.heat_map()],
                                    ["x: the input", "F(x)", f"|F(x) − x|: {same_x.mean_error:.3f}"]))
        identity_y_gallery = []
        if y is None:
            backward_gallery = []
            backward_text = (f"Add a picture of **{dst}** (second picture) to see the backward cycle "
                             f"y → F(y) → G(F(y)) and G's identity view.")
        else:
            backward = forward_cycle(y, chosen.F, chosen.G)
            backward_gallery = _gallery(backward.pictures(), ["y: the second", f"F(y): as {src}", f"G(F(y)): as {dst}"],
                                        backward.heat_map(), f"|G(F(y)) − y|: {backward.mean_error:.3f}")
            backward_text = _explained(BACKWARD_TEXT, None, f"Backward cycle error: **{backward.mean_error:.3f}**.")
            same_y = identity_view(y, chosen.G)
            identity_y_gallery = list(zip(same_y.pictures() + [same_y.heat_map()],
                                          ["y: the second", "G(y)", f"|G(y) − y|: {same_y.mean_error:.3f}"]))
        identity_text = _explained(IDENTITY_TEXT, IDENTITY_EQUATION,
                                   f"F changes a {src} by **{same_x.mean_error:.3f}** on average. A model trained "
                                   f"with the identity term leaves it nearly alone; without it, colours may shift.")
        return (forward_gallery, forward_text, backward_gallery, backward_text, identity_gallery, identity_y_gallery,
                identity_text)

    def flicker(self, payload_x, task_text: str, extra: list[dict] | None, token: str | None = None,
                progress=gr.Progress()):
        """(x, task) → a slow pan over x translated frame by frame and as one shot, and why videos flicker."""
        self.require(payload_x)
        chosen = self.choose(task_text, extra, token, progress)
        x = self.picture(payload_x)
        view = flicker_view(chosen.model.generator(chosen.task.direction), x)
        n = len(view.frames)
        pictures = ([(tensor_to_image(t), f"frame {i + 1}: its own statistics") for i, t in enumerate(view.per_frame)]
                    + [(tensor_to_image(t), f"frame {i + 1}: the shot's") for i, t in enumerate(view.per_shot)])
        ratio = view.change_per_frame / max(view.change_per_shot, 1e-9)
        text = (f"{FLICKER_TEXT}\n\nThe window moves {view.shift} px a frame over {n} frames. Change between "
                f"consecutive translated frames where they show the same place (the pan undone): **"
                f"{view.change_per_frame:.4f}** frame by frame, **{view.change_per_shot:.4f}** with the shot's "
                f"statistics ({ratio:.1f}× less flicker). The Translate tab's Video section shares them per shot.")
        return pictures, text

    # --- 2. hidden information ---

    def hidden(self, payload_x, task_text: str, kind: str, amount: float, extra: list[dict] | None,
               token: str | None = None, progress=gr.Progress()):
        """(x, task, noise|jpeg, amount) → pictures of the hidden signal, the perturbed round trip, the
        curve over all amounts, and a sentence about it."""
        if kind not in AMOUNTS:
            raise gr.Error(f"Choose one of: {', '.join(AMOUNTS)}.", print_exception=False)
        self.require(payload_x)
        chosen = self.choose(task_text, extra, token, progress)
        x = self.picture(payload_x)
        src, dst = chosen.names
        fake = chosen.G(x)
        perturbed = degrade(fake, kind, amount)
        with torch.no_grad():
            rec, rec_perturbed, rec_smooth = chosen.F(fake), chosen.F(perturbed), chosen.F(smoothed(fake))
        hidden = [(tensor_to_image(fake), f"G(x): as {dst}"),
                  (amplified(hidden_signal(fake)), "G(x) − smooth, ×10"),
                  (tensor_to_image(rec), "F(G(x))"),
                  (tensor_to_image(rec_smooth), "F(smooth G(x))")]
        perturbed_pictures = [(tensor_to_image(fake), "G(x)"),
                              (tensor_to_image(perturbed), f"G(x), {SHORT_UNITS[kind]} {amount:g}"),
                              (tensor_to_image(rec), "F(G(x))"),
                              (tensor_to_image(rec_perturbed), "F(changed G(x))")]
        curve = reconstruction_curve(x, chosen.G, chosen.F, kind, translated=fake)
        rows = {"amount": [], "change": [], "measure": []}
        for point in curve:
            for measure, value in (("G(x) moved", point.translation_change), ("F(G(x)) moved", point.reconstruction_change)):
                rows["amount"].append(point.amount)
                rows["change"].append(value)
                rows["measure"].append(measure)
        text = describe_curve(curve, kind)
        return hidden, perturbed_pictures, pd.DataFrame(rows), text

    # --- 3. the discriminator ---

    @staticmethod
    def found_discriminators(chosen: Chosen) -> Discriminators | None:
        """The model's own discriminators (from its training state) first, then those this visitor
        trained for it (`Chosen.keep`), then any it came with; None if there are none."""
        home, keep = chosen.home, chosen.keep
        if home is not None and RunFolder(home).has_saved_state():
            return find_discriminators(home)
        mine = find_discriminators(keep) if keep is not None and keep != home else None
        return mine or find_discriminators(home)

    def discriminator(self, payload_x, payload_y, task_text: str, extra: list[dict] | None, token: str | None = None,
                      progress=gr.Progress()):
        """(x[, y], task) → maps of what the PatchGANs think of the real x, of G(x) and of y, and text."""
        self.require(payload_x)
        chosen = self.choose(task_text, extra, token, progress)
        return self.discriminator_view(chosen, payload_x, payload_y, self.found_discriminators(chosen))

    def discriminator_view(self, chosen: Chosen, payload_x, payload_y, found: Discriminators | None):
        """The Discriminator view's outputs for `found` (None: the model has none yet)."""
        x, y = self.picture(payload_x), self.picture(payload_y, required=False)
        src, dst = chosen.names
        if found is None:
            return [], (f"**This model has no discriminators.** The official models were released with their "
                        f"generators only, so nobody can show what their D's thought. You can train a "
                        f"discriminator for it here: the generators stay frozen and two fresh 70×70 PatchGANs "
                        f"learn, for at most {d_training_seconds():.0f} s, to tell your real pictures from the "
                        f"model's translations. Add a picture of **{dst}** as the second picture, then press "
                        f"*Train a discriminator*."), gr.update(visible=True)
        d_src, d_dst = (found.for_domain(d) for d in chosen.domains)
        fake = chosen.G(x)
        judged = [(x, d_src, f"x by D_{chosen.domains[0]}"), (fake, d_dst, f"G(x) by D_{chosen.domains[1]}")]
        if y is not None:
            judged.append((y, d_dst, f"y by D_{chosen.domains[1]}"))
        pictures, means = [], []
        for picture, D, caption in judged:
            scores = patch_scores(D, picture)
            marked, where = mark_patch(overlay(picture, scores), scores, found.n_layers)
            means.append(float(scores.mean()))
            pictures.append((marked, f"{caption}: {means[-1]:.2f}"))
            patches = f"{scores.shape[0]}×{scores.shape[1]}"
        field = receptive_field(found.n_layers)
        text = _explained(D_TEXT, D_EQUATION,
                          f"Discriminators: {found.origin}. Each map is {patches} patches, and each picture's "
                          f"caption its mean realness. The box is one patch's {field}×{field}-pixel receptive "
                          f"field: the patch that looks most generated. "
                          f"Mean realness (1 = real, 0 = generated): real {src} {means[0]:.2f}, translated {dst} "
                          f"{means[1]:.2f}" + (f", real {dst} {means[2]:.2f}." if y is not None else "."))
        return pictures, text, gr.update(visible=not found.origin.startswith("this model's own"))

    def train_discriminator(self, payload_x, payload_y, task_text: str, extra: list[dict] | None,
                            token: str | None = None, progress=gr.Progress()):
        """D-only training against the frozen generators (≤ `d_training_seconds()`), kept for this visitor
        (`Chosen.keep`: their own run's folder, else their own space in the store, counted in the
        visitors' disk budget), never in the folder of a model that is not their run. Returns the
        Discriminator view's outputs and the visitor's token (an API caller's first gives its session one,
        so that it finds them again)."""
        token = token or new_token()
        chosen = self.choose(task_text, extra, token)
        if chosen.toy:
            raise gr.Error("Toy models come with their own discriminators.", print_exception=False)
        if payload_y is None:
            raise gr.Error(f"Add a real picture of {chosen.names[1]} as the second picture first: a discriminator "
                           f"learns from real pictures of both domains.", print_exception=False)
        x, y = visitor_image(payload_x), visitor_image(payload_y)
        images_a, images_b = ([x], [y]) if chosen.task.direction == "AtoB" else ([y], [x])
        seconds = d_training_seconds()
        # Room first, in the disk that visitors' runs and spaces share.
        self.store.make_room(discriminators_bytes(), runs_max_bytes(), keep=[chosen.keep, *self.slot.holding()],
                             what="keeping these discriminators", advice="try again later")
        model = on_device(chosen.model)  # on ZeroGPU: this call's GPU, where D trains too
        G_AB, G_BA = model_translator(model, "AtoB"), model_translator(model, "BtoA")
        trained = train_discriminators(
            G_AB, G_BA, images_a, images_b, seconds=seconds, device=model.device,
            progress=lambda p: progress(min(1.0, p.seconds / seconds),
                                        desc=f"step {p.step}: D_A loss {p.loss_A:.3f}, D_B loss {p.loss_B:.3f}"))
        save_discriminators(trained, chosen.keep)
        return (*self.discriminator(payload_x, payload_y, task_text, extra, token), token)


    # --- 4. lessons ---

    def lessons(self) -> dict[str, RecordedLesson]:
        if self.recorded is None:
            self.recorded = load_lessons(self.lessons_folder) if self.lessons_folder.is_dir() else {}
        return self.recorded

    def lesson_choices(self) -> list[tuple[str, str]]:
        return [(lesson.spec.title, name) for name, lesson in self.lessons().items()]

    def lesson(self, name: str) -> RecordedLesson:
        if name not in self.lessons():
            raise gr.Error(f"Choose one of the lessons: {', '.join(self.lessons()) or 'none is installed'}.",
                           print_exception=False)
        return self.lessons()[name]

    def lesson_frame(self, name: str, index: float, term: str = "cycle_A"):
        """Lesson `name` at frame `index`: the slider, what to notice, every variant's previews, the
        lesson's measurement and one loss term up to that step, and the numbers at that step."""
        lesson = self.lesson(name)
        i = int(min(max(index or 0, 0), lesson.frames - 1))
        frame = lesson.frame(i)
        picture = _labelled_rows([(f"{label} · step {frame.step}: x → G(x) → F(G(x)) for four held-out inputs",
                                   image_grid([[image for cycle in cycles
                                                for image in (cycle.real, cycle.translated, cycle.reconstructed)]],
                                              scale=3, gap=2))
                                  for label, cycles in frame.previews.items()])
        curves = lesson.curves(i)
        metric = lesson.spec.metric
        measured = {"step": [], "value": [], "variant": []}
        losses = {"step": [], "loss": [], "variant": []}
        for label, columns in curves.items():
            measured["step"] += columns["step"]
            measured["value"] += columns[metric]
            measured["variant"] += [label] * len(columns["step"])
            losses["step"] += columns["step"]
            losses["loss"] += columns.get(term, [0.0] * len(columns["step"]))
            losses["variant"] += [f"{label}: {term}"] * len(columns["step"])
        numbers = "; ".join(f"{label}: {METRICS[metric]} **{frame.metrics[label][metric]:.2f}**"
                            for label in lesson.labels)
        text = (f"**Step {frame.step} of {lesson.steps[-1]}** (frame {i} of {lesson.frames - 1}) · {numbers}\n\n"
                f"*Outcome of the recording:* {lesson.outcome}")
        about = f"**{lesson.spec.title}**\n\n{lesson.spec.explanation}"
        return (gr.update(maximum=lesson.frames - 1, value=i, label=f"{FRAME_LABEL}: training step {frame.step}"),
                about, picture,
                gr.update(value=pd.DataFrame(measured), y_title=METRICS[metric], x_lim=[0, lesson.steps[-1]]),
                gr.update(value=pd.DataFrame(losses), x_lim=[0, lesson.steps[-1]]), text)  # the whole recording's axis

    def lesson_play(self, name: str, index: float, term: str = "cycle_A", play: str | None = None,
                    delay: float = 0.35):
        """Play from `index` (from the start if at the end) to the last frame, one frame per `delay` s.
        `play` names this play for `pause_lesson`, which ends it between two frames."""
        lesson = self.lesson(name)
        start = int(index or 0)
        start = 0 if start >= lesson.frames - 1 else start
        if play:
            self.playing.add(play)
        try:
            for i in range(start, lesson.frames):
                if play in self.paused:
                    return
                yield self.lesson_frame(name, i, term)
                time.sleep(delay)
        finally:
            self.playing.discard(play)
            self.paused.discard(play)

    def pause_lesson(self, play: str | None) -> None:
        """Pause the play `play` (a page's): it stops before its next frame, as if it had ended there."""
        if play in self.playing:
            self.paused.add(play)

    # --- 5. train it yourself ---

    @staticmethod
    def live_run(state: dict | None, task_name: str, lambda_cycle: float, lambda_identity: float) -> dict:
        """The session's live run: a fresh one for a new task (or none yet), else the same one with
        the sliders' λs from its next step on."""
        if task_name not in SYNTHETIC_TASKS:
            raise gr.Error(f"Choose one of the synthetic tasks: {', '.join(SYNTHETIC_TASKS)}.", print_exception=False)
        if not state or state.get("task") != task_name:
            state = {"task": task_name, "run": LiveRun(task_name, lambda_cycle, lambda_identity), "log": [],
                     "previews": []}
        state["run"].set_lambdas(lambda_cycle, lambda_identity)
        return state

    def live_step(self, state: dict | None, task_name: str, lambda_cycle: float, lambda_identity: float):
        """One generator update and one discriminator update, shown whole."""
        state = self.live_run(state, task_name, lambda_cycle, lambda_identity)
        run: LiveRun = state["run"]
        report = run.one_step()
        state["log"].append({"step": report.step, **report.losses})
        preview = run.preview()
        _remember(state, preview)
        batch = image_grid([[report.images[name][i] for name in PREVIEW_ORDER]
                            for i in range(len(report.images["real_A"]))], scale=3)
        a, b = run.task.domain_a.name, run.task.domain_b.name
        pool = [(image, "older G(a)" if old else "fresh G(a)")
                for image, old in zip(report.pool_B.drawn, report.pool_B.from_history)]
        pool += [(image, f"pool {i + 1}/{report.pool_B.capacity}") for i, image in enumerate(report.pool_B.contents[-8:])]
        rows = ["| term | value | what it measures |", "| --- | --- | --- |"]
        rows += [f"| `{name}` | {report.losses[name]:.4f} | {TERM_TEXT[name]} |" for name in LOSS_NAMES]
        scores = report.scores
        losses_text = "\n".join(rows) + (
            f"\n\nAfter its update, D_Y (`D_B`) scores real {b} **{scores['D_B']['real']:.2f}** and the fakes it "
            f"was shown **{scores['D_B']['fake']:.2f}**; D_X (`D_A`) scores real {a} **{scores['D_A']['real']:.2f}** "
            f"and fakes **{scores['D_A']['fake']:.2f}** (least squares: 1 means real, 0 generated). The pool holds "
            f"{report.pool_B.size} of at most {report.pool_B.capacity} earlier fakes; each fake shown to D is, with "
            f"probability ½ once the pool is full, swapped for an older one (Sec. 4), so D does not forget.")
        return (state, self.live_status(state, f"One step in {report.seconds * 1000:.0f} ms."), preview.grid(),
                _curve_frame(state["log"]), gr.update(value=batch, visible=True), gr.update(value=pool, visible=True),
                gr.update(value=losses_text, visible=True), self.live_doctor(state))

    def live_train(self, state: dict | None, task_name: str, lambda_cycle: float, lambda_identity: float,
                   seconds: float = 30.0):
        """Train for `seconds` (at most 60), with a preview every 10 steps; Stop ends it at once."""
        state = self.live_run(state, task_name, lambda_cycle, lambda_identity)
        run: LiveRun = state["run"]
        seconds = min(60.0, max(1.0, float(seconds)))
        hidden = gr.update(visible=False)
        yield (state, self.live_status(state, f"Training for {seconds:.0f} s: a preview every 10 steps…"), gr.skip(),
               gr.skip(), hidden, hidden, hidden, gr.skip())  # said at once: the first preview takes a few seconds
        for event in run.run(seconds=seconds, preview_every=10):
            if isinstance(event, LiveStep):
                state["log"].append({"step": event.step, **event.losses})
            elif isinstance(event, LivePreview):
                _remember(state, event)
                text = self.live_status(state, f"Training: {event.step} steps.")
                yield (state, text, event.grid(), _curve_frame(state["log"]), hidden, hidden, hidden,
                       self.live_doctor(state))
            elif isinstance(event, LiveFinished):
                yield (state, self.live_status(state, f"{event.steps} steps in {event.seconds:.0f} s."), gr.skip(),
                       _curve_frame(state["log"]), hidden, hidden, hidden, self.live_doctor(state))

    @staticmethod
    def live_status(state: dict, done: str) -> str:
        run: LiveRun = state["run"]
        first = state["previews"][0].cycle_error if state["previews"] else run.cycle_error()
        now = state["previews"][-1].cycle_error if state["previews"] else first
        return (f"**{run.task.title}** · step {run.step} · λ_cycle = {run.lambda_cycle:g}, λ_identity = "
                f"{run.lambda_identity:g} · {done} Cycle error on held-out pictures (Eq. 2's L1 term): "
                f"**{now:.3f}** (it was {first:.3f} at the start).")

    @staticmethod
    def live_doctor(state: dict) -> str:
        previews = [{name: images[0] for name, images in p.images.items()} for p in state["previews"][-3:]]
        log = state["log"]
        return "**Is it working?** " + summary(diagnose(log, previews), len(log))

    @staticmethod
    def live_reset():
        return (None, "A fresh run starts with the next step.", None, None, *(gr.update(visible=False),) * 3, "")


def _remember(state: dict, preview: LivePreview) -> None:
    """Keep the run's first preview and its latest few (cycle error then and now; the doctor's input)."""
    state["previews"] = (state["previews"][:1] + state["previews"][1:][-3:] + [preview])


def _curve_frame(log: list[dict]) -> dict:
    """The live run's losses for its plot, on an axis of whole steps that follows the run (at least 10:
    one step does not stretch over the whole axis, nor get ticks of 1.000000)."""
    stride = max(1, len(log) // 300)
    rows = {"step": [], "loss": [], "term": []}
    for record in log[::stride]:
        for term in LOSS_NAMES:
            rows["step"].append(record["step"])
            rows["loss"].append(record[term])
            rows["term"].append(term)
    last = log[-1]["step"] if log else 0
    return gr.update(value=pd.DataFrame(rows), x_lim=[0, max(10, last)])


PREVIEW_ORDER = ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B")
# What each loss term measures, for a Markdown table: norms as ‖…‖₁ (a "|" would end the cell).
TERM_TEXT = {
    "G_AB": "G fooling D_Y: (D_Y(G(a)) − 1)², Eq. 1",
    "G_BA": "F fooling D_X: (D_X(F(b)) − 1)², Eq. 1",
    "cycle_A": "λ · ‖F(G(a)) − a‖₁, Eq. 2 (λ: Eq. 3)",
    "cycle_B": "λ · ‖G(F(b)) − b‖₁, Eq. 2 (λ: Eq. 3)",
    "idt_A": "λ_idt · λ · ‖F(a) − a‖₁, Sec. 5.2",
    "idt_B": "λ_idt · λ · ‖G(b) − b‖₁, Sec. 5.2",
    "D_A": "D_X telling real a from pooled F(b), Eq. 1 halved",
    "D_B": "D_Y telling real b from pooled G(a), Eq. 1 halved",
}


def _pictures(label: str, columns: int, elem_id: str, visible: bool = True) -> gr.Gallery:
    """A row of captioned pictures, each shown whole (PNG: the heat maps' colours stay exact)."""
    # "fit-content": every row whole, no blank below a short one ("auto" keeps a fixed height and scrolls).
    return gr.Gallery(label=label, columns=columns, height="fit-content", object_fit="contain", format="png",
                      visible=visible,
                      elem_id=elem_id, elem_classes=["learn-pictures"])  # two a row on a phone (app.CSS)


def _labelled_rows(rows: list[tuple[str, Image.Image]]) -> Image.Image:
    """Pictures one under another on white, each with its caption above it."""
    font = ImageFont.load_default(size=16)
    width = max(image.width for _, image in rows)
    canvas = Image.new("RGB", (width, sum(image.height + 28 for _, image in rows)), "white")
    draw, top = ImageDraw.Draw(canvas), 0
    for caption, image in rows:
        # Pillow's built-in font has no λ or arrows: they are spelled out rather than drawn as boxes.
        caption = caption.replace("λ", "lambda").replace("→", "->")
        draw.text((2, top + 4), caption, fill=(20, 20, 20), font=font)
        canvas.paste(image, (0, top + 26))
        top += image.height + 28
    return canvas


def _gallery(pictures: list[Image.Image], captions: list[str], heat: Image.Image, heat_caption: str):
    return list(zip([*pictures, heat], [*captions, heat_caption]))


def _explained(text: str, equation: str | None, numbers: str) -> str:
    parts = [text]
    if equation:
        parts.append(f"$${equation}$$")
    parts.append(numbers)
    return "\n\n".join(parts)


VIEWS = ("Cycle", "Hidden", "Discriminator", "Lessons", "Try it")


def _message(elem_id: str) -> gr.Markdown:
    """A view's message box: what did not work (nothing chosen yet, offline), in words on the page."""
    return gr.Markdown(visible=False, elem_id=elem_id, elem_classes=["error-box"])


def build_learn_tab(cache: ModelCache, visitor: gr.State, loaded, extra: gr.State,
                    slot: TrainingSlot | None = None, tab: gr.Tab | None = None) -> None:
    """Create the tab's components in the current Blocks context and wire its events (`tab`: the Learn
    tab itself; opening it refreshes the model list, so a run trained meanwhile is there)."""
    handlers = LearnHandlers(cache, slot=slot)
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        image_x = gr.Image(label="x: a picture of the input domain", type="filepath", image_mode=None,
                           sources=["upload", "clipboard", "webcam"], elem_id="learn-image", height=240,
                           min_width=160)
        image_y = gr.Image(label="y (optional): the other domain", type="filepath", image_mode=None,
                           sources=["upload", "clipboard", "webcam"], elem_id="learn-image-b", height=240,
                           min_width=160)
        with gr.Column(min_width=240):
            options = handlers.options([], None, probe=False)  # the page load adds what can be used now
            task = gr.Dropdown(choices=options, value=options[0][1] if options else None, label="Model and direction",
                               elem_id="learn-task", allow_custom_value=True)
    examples = handlers.examples()
    if examples:
        gr.Examples(examples, inputs=[image_x, image_y, task], cache_examples=False, elem_id="learn-examples",
                    label="Examples for the toy models (click one, then a view's button)")
    inputs = [image_x, image_y, task, extra, visitor]
    api = gr.Button(visible=False, elem_id="learn-api")  # the views' public API names (errors as errors)
    # The views, chosen by a row of buttons that wraps on a phone (tabs would hide some behind a menu).
    view = gr.Radio(list(VIEWS), value=VIEWS[0], show_label=False, elem_id="learn-view", container=False)
    columns = []
    with gr.Column(elem_id="learn-cycle-view") as column:
        columns.append(column)
        cycle_button = gr.Button("Show the cycle", variant="primary", elem_id="learn-cycle-button")
        cycle_message = _message("learn-cycle-message")
        forward_gallery = _pictures("Forward cycle", 4, "learn-forward")
        forward_text = gr.Markdown(latex_delimiters=LATEX, elem_id="learn-forward-text")
        backward_gallery = _pictures("Backward cycle", 4, "learn-backward")
        backward_text = gr.Markdown(latex_delimiters=LATEX, elem_id="learn-backward-text")
        identity_gallery = _pictures("Identity: F shown a picture of its own output domain", 3, "learn-identity")
        identity_y_gallery = _pictures("Identity: G shown a picture of its own output domain", 3, "learn-identity-y")
        identity_text = gr.Markdown(latex_delimiters=LATEX, elem_id="learn-identity-text")
        flicker_button = gr.Button("Why CycleGAN videos flicker", elem_id="learn-flicker-button")
        flicker_message = _message("learn-flicker-message")
        flicker_gallery = _pictures("A slow pan over x: frame by frame (top), one shot (bottom)", 4, "learn-flicker")
        flicker_text = gr.Markdown(elem_id="learn-flicker-text")
    with gr.Column(visible=False, elem_id="learn-hidden-view") as column:
        columns.append(column)
        with gr.Row():
            kind = gr.Radio(list(AMOUNTS), value="noise", label="Perturb G(x) before F with",
                            elem_id="learn-hidden-kind")
            amount = gr.Slider(0, 100, value=8, step=1, label="Amount (noise σ in levels of 255, or JPEG quality)",
                               elem_id="learn-hidden-amount")
        hidden_button = gr.Button("Show what the cycle hides", variant="primary", elem_id="learn-hidden-button")
        hidden_message = _message("learn-hidden-message")
        hidden_gallery = _pictures("The translation and its hidden detail", 4, "learn-hidden")
        perturbed_gallery = _pictures("A small change to G(x) before F", 4, "learn-perturbed")
        hidden_plot = gr.LinePlot(x="amount", y="change", color="measure", label="How much each picture moved",
                                  elem_id="learn-hidden-plot")
        hidden_text = gr.Markdown(elem_id="learn-hidden-text")
    with gr.Column(visible=False, elem_id="learn-d-view") as column:
        columns.append(column)
        d_button = gr.Button("Show what the discriminator sees", variant="primary", elem_id="learn-d-button")
        d_message = _message("learn-d-message")
        d_maps = _pictures("Realness per patch (bright: looks real), with one patch's receptive field", 3,
                           "learn-d")
        d_text = gr.Markdown(latex_delimiters=LATEX, elem_id="learn-d-text")
        d_train = gr.Button(f"Train a discriminator for this model (≤ {d_training_seconds():.0f} s)",
                            visible=False, elem_id="learn-d-train")
    with gr.Column(visible=False, elem_id="learn-lessons-view") as column:
        columns.append(column)
        lesson_names = handlers.lesson_choices()
        with gr.Row():
            lesson = gr.Dropdown(lesson_names, value=lesson_names[0][1] if lesson_names else None, label="Lesson",
                                 elem_id="learn-lesson")
            term = gr.Dropdown(list(LOSS_NAMES), value="cycle_A", label="Loss term to plot",
                               elem_id="learn-lesson-term")
        longest = max([lesson.frames for lesson in handlers.lessons().values()], default=2)
        frame = gr.Slider(0, longest - 1, value=0, step=1, label=FRAME_LABEL, elem_id="learn-lesson-frame")
        with gr.Row():
            play = gr.Button("Play", variant="primary", elem_id="learn-lesson-play")
            pause = gr.Button("Pause", elem_id="learn-lesson-pause")
        lesson_message = _message("learn-lesson-message")
        lesson_about = gr.Markdown(elem_id="learn-lesson-about")
        lesson_text = gr.Markdown(elem_id="learn-lesson-text")
        lesson_gallery = gr.Image(label="Each variant at this step", type="pil", format="png", interactive=False,
                                  elem_id="learn-lesson-previews", buttons=["fullscreen"], elem_classes=["learn-grid"])
        with gr.Row(equal_height=False):
            lesson_metric = gr.LinePlot(x="step", y="value", color="variant", label="The lesson's measurement",
                                        elem_id="learn-lesson-metric", min_width=280)
            lesson_losses = gr.LinePlot(x="step", y="loss", color="variant", label="Loss",
                                        elem_id="learn-lesson-losses", min_width=280)
    with gr.Column(visible=False, elem_id="learn-live-view") as column:
        columns.append(column)
        gr.Markdown("A tiny CycleGAN (16 filters, 2 residual blocks, 32×32 pictures) learns a synthetic task "
                    "on this machine. Step through single updates, or train for up to a minute and watch the "
                    "previews (held-out pictures: real → translated → back, both ways) and the losses.")
        with gr.Row():
            live_task = gr.Dropdown([(task.title, name) for name, task in SYNTHETIC_TASKS.items()],
                                    value=next(iter(SYNTHETIC_TASKS)), label="Task", elem_id="learn-live-task",
                                    min_width=200)
            lambda_cycle = gr.Slider(0, 20, value=10, step=0.5, label="λ cycle (Eq. 3)",
                                     elem_id="learn-live-lambda-cycle", min_width=200)
            lambda_identity = gr.Slider(0, 1, value=0.5, step=0.05, label="λ identity (× λ cycle, Sec. 5.2)",
                                        elem_id="learn-live-lambda-identity", min_width=200)
            live_seconds = gr.Slider(5, 60, value=30, step=5, label="Train for (seconds)",
                                     elem_id="learn-live-seconds", min_width=200)
        with gr.Row():
            live_one = gr.Button("One step", elem_id="learn-live-step", min_width=100)
            live_go = gr.Button("Train", variant="primary", elem_id="learn-live-train", min_width=100)
            live_stop = gr.Button("Stop", variant="stop", elem_id="learn-live-stop", min_width=100)
            live_new = gr.Button("Start over", elem_id="learn-live-reset", min_width=100)
        live_message = _message("learn-live-message")
        live_status = gr.Markdown(elem_id="learn-live-status")
        with gr.Row(equal_height=False):
            live_preview = gr.Image(label="Held-out pictures: real A → G → F | real B → F → G", type="pil",
                                    format="png", interactive=False, elem_id="learn-live-preview", min_width=280,
                                    elem_classes=["learn-grid"])
            live_plot = gr.LinePlot(x="step", y="loss", color="term", label="Losses", elem_id="learn-live-plot",
                                    min_width=280, x_axis_format="d", x_lim=[0, 10])
        live_doctor = gr.Markdown(elem_id="learn-live-doctor")
        live_batch = gr.Image(label="This step's batch through both cycles", type="pil", format="png",
                              interactive=False, visible=False, elem_id="learn-live-batch", elem_classes=["learn-grid"])
        live_pool = _pictures("What D_Y was shown (a fresh G(a), or an older one from the history pool), and the pool", 8,
                              "learn-live-pool", visible=False)
        live_losses = gr.Markdown(visible=False, elem_id="learn-live-losses")
        live_state = gr.State(None)
    view.change(lambda chosen: [gr.update(visible=chosen == name) for name in VIEWS], inputs=view, outputs=columns,
                api_visibility="private", queue=False)

    lesson_outputs = [frame, lesson_about, lesson_gallery, lesson_metric, lesson_losses, lesson_text]
    show = dict(outputs=lesson_outputs, box=lesson_message, api=api, concurrency_limit=4, concurrency_id="lessons")
    page_and_api([lesson.change, term.change, frame.release], handlers.lesson_frame, inputs=[lesson, frame, term],
                 api_name="learn_lesson", **show)
    playing = gr.State(None)  # this page's playing lesson: Pause ends it between two frames, as a finished play
    play.click(new_token, outputs=playing, api_visibility="private", queue=False).then(
        in_the_box(handlers.lesson_play, len(lesson_outputs)), inputs=[lesson, frame, term, playing],
        outputs=[*lesson_outputs, lesson_message], api_visibility="private", concurrency_limit=4,
        concurrency_id="lessons")
    api.click(user_errors(handlers.lesson_play), inputs=[lesson, frame, term], outputs=lesson_outputs,
              api_name="learn_lesson_play", concurrency_limit=4, concurrency_id="lessons")
    pause.click(handlers.pause_lesson, inputs=playing, api_visibility="private", queue=False)
    if lesson_names:
        loaded.then(in_the_box(handlers.lesson_frame, len(lesson_outputs)), inputs=[lesson, frame, term],
                    outputs=[*lesson_outputs, lesson_message], api_visibility="private", concurrency_limit=4,
                    concurrency_id="lessons")
    live_inputs = [live_state, live_task, lambda_cycle, lambda_identity]
    live_outputs = [live_state, live_status, live_preview, live_plot, live_batch, live_pool, live_losses, live_doctor]
    live = dict(outputs=live_outputs, box=live_message, api=api, concurrency_limit=1, concurrency_id="learn-train")
    page_and_api([live_one.click], handlers.live_step, inputs=live_inputs, api_name="learn_live_step", **live)
    training = page_and_api([live_go.click], handlers.live_train, inputs=[*live_inputs, live_seconds],
                            api_name="learn_live_train", **live)
    live_stop.click(None, cancels=[training], api_visibility="private", queue=False)
    live_new.click(handlers.live_reset, outputs=live_outputs, api_visibility="private", queue=False, cancels=[training])
    cycle_outputs = [forward_gallery, forward_text, backward_gallery, backward_text, identity_gallery,
                     identity_y_gallery, identity_text]
    views = dict(api=api, concurrency_limit=1, concurrency_id="translate")
    page_and_api([cycle_button.click], handlers.cycle, inputs=inputs, outputs=cycle_outputs, box=cycle_message,
                 api_name="learn_cycle", **views)
    page_and_api([flicker_button.click], handlers.flicker, inputs=[image_x, task, extra, visitor],
                 outputs=[flicker_gallery, flicker_text], box=flicker_message, api_name="learn_flicker", **views)
    page_and_api([hidden_button.click], handlers.hidden, inputs=[image_x, task, kind, amount, extra, visitor],
                 outputs=[hidden_gallery, perturbed_gallery, hidden_plot, hidden_text], box=hidden_message,
                 api_name="learn_hidden", **views)
    d_outputs = [d_maps, d_text, d_train]
    page_and_api([d_button.click], handlers.discriminator, inputs=inputs, outputs=d_outputs, box=d_message,
                 api_name="learn_discriminator", **views)
    d_training = on_gpu(handlers.train_discriminator, lambda *args, **kwargs: int(d_training_seconds()) + 30)
    page_and_api([d_train.click], d_training, inputs=inputs, outputs=[*d_outputs, visitor],
                 box=d_message, api_name="learn_train_discriminator", api=api, concurrency_limit=1,
                 concurrency_id="learn-train")
    # The list is made without the queue (a look at the store, and a probe the Translate tab's list has
    # usually made already): it is not one of the few jobs a visitor may have waiting.
    loaded.then(handlers.refresh, inputs=[task, extra, visitor], outputs=[task], api_visibility="private",
                queue=False)
    if tab is not None:
        tab.select(handlers.refresh, inputs=[task, extra, visitor], outputs=[task], api_visibility="private",
                   queue=False)
