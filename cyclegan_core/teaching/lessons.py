"""Recorded lessons: small experiments on synthetic tasks, recorded once and played back instantly.

Each lesson trains two (or more) variants of the same tiny CycleGAN (`live.LiveRun`, the same
networks the Learn tab trains live) that differ in one thing, and records, every few steps, every
loss term, a few measurements and the preview inputs through the forward cycle (x, G(x), F(G(x))).
The class scrubs through the steps and sees what the difference does:

    cycle        λ_cycle 10 vs 0 (Eq. 2, 3): without the cycle the output depends less on the input
    identity     λ_identity 0.5 vs 0 (Sec. 5.2): without it, colours drift that should have stayed
    geometry     circles → squares (Sec. 6): the outline does not change
    little_data  fresh images vs two per domain: the outputs follow the input less

Measurements, all on held-out inputs a (the same for every run of a task) and their true
translations b* (the same layout drawn in domain B, which training never sees):

    cycle_error       mean |F(G(a)) − a|: Eq. 2's L1 without λ, on [-1, 1] images
    input_dependence  how much the outputs G(a) differ from one another, divided by how much their
                      inputs a differ (mean pairwise L1 distance), both on 4×4-pixel block averages
                      so that they compare colours and layout, not pixel noise: near 0 when every
                      input gives the same output, around 1 when outputs differ as inputs do
    colour_shift      how far G(a)'s colours are from b*'s, region by region (the objects, the
                      background): mean |difference of region-average colours| on [-1, 1] images
    outline_change    where b*'s objects cover more than a's (a square's corners beyond its
                      circle), how far G(a) painted them like its objects rather than its
                      background: 0 kept a's outline, 1 drew b*'s (only where the outlines differ)

Files, in `<folder>/<lesson name>/`: `lesson.json` (the spec, the frames' losses and
measurements, a format version) and one PNG sprite per variant: a row per frame, and in each row
the preview inputs' (x, G(x), F(G(x))) side by side. `load_lessons(folder)` reads and checks them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from cyclegan_core.atomic import atomic_path, atomic_write_text
from cyclegan_core.errors import CycleGANError
from cyclegan_core.nn.losses import LOSS_NAMES
from cyclegan_core.teaching.live import LiveRun, LiveSettings, image_grid
from cyclegan_core.teaching.synthetic import SYNTHETIC_TASKS, Pairs, to_images

FORMAT = "cyclegan-studio-lesson"
FORMAT_VERSION = 1
LESSON_FILE = "lesson.json"
PREVIEW_INPUTS = 4  # held-out inputs shown per frame
BLOCK = 4  # input_dependence compares 4×4-pixel block averages
METRICS = {  # name → how the Learn tab names it
    "cycle_error": "cycle error |F(G(a)) − a|",
    "input_dependence": "input dependence",
    "colour_shift": "colour shift",
    "outline_change": "outline change",
}
READINGS = {  # name → how to read it; {unchanged} and {true}: what the inputs themselves and their true
    # translations measure, as if they were the outputs (`references`)
    "cycle_error": "0 = perfect reconstructions",
    "input_dependence": "0 = the same output whatever the input; the true translations score {true:.2f}",
    "colour_shift": "0 = the right colours",
    "outline_change": "the inputs' own outlines score {unchanged:.2f}, the true targets' {true:.2f}",
}
SPRITE_NAME = re.compile(r"^[A-Za-z0-9_-]+\.png$")


@dataclass(frozen=True)
class Variant:
    """One of a lesson's runs: its label and what it changes (λ_cycle for both cycles, Eq. 3;
    λ_identity as a fraction of it, Sec. 5.2; `data_size` fixed images per domain, or fresh ones)."""

    label: str
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    data_size: int | None = None


@dataclass(frozen=True)
class Lesson:
    """A recorded experiment: `variants` trained on `task` for `steps` steps, recorded every
    `record_every` steps. `metric` is the measurement its outcome sentence reports;
    `expected_lower` names the variant that should end lowest on it (the lesson's point; None
    for a lesson of one variant, whose point is the value itself)."""

    name: str
    title: str
    explanation: str
    task: str
    variants: tuple[Variant, ...]
    steps: int
    record_every: int
    metric: str
    expected_lower: str | None = None
    seed: int = 0
    settings: LiveSettings = LiveSettings()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Lesson":
        """The inverse of `to_dict`, checked: a ValueError or TypeError says what is wrong."""
        data = dict(data)
        data["variants"] = tuple(Variant(**variant) for variant in data["variants"])
        data["settings"] = LiveSettings(**data["settings"])
        lesson = cls(**data)
        lesson.check()
        return lesson

    def check(self) -> None:
        labels = [variant.label for variant in self.variants]
        if not labels or len(set(labels)) != len(labels) or not all(isinstance(x, str) and x for x in labels):
            raise ValueError("variants need distinct, non-empty labels")
        if self.task not in SYNTHETIC_TASKS:
            raise ValueError(f"unknown task {self.task!r}")
        if self.metric not in METRICS or self.expected_lower not in (*labels, None):
            raise ValueError("metric must be a measurement and expected_lower a variant's label")
        if self.steps < 1 or self.record_every < 1:
            raise ValueError("steps and record_every must be at least 1")


@dataclass(frozen=True)
class CycleImages:
    """One input through the forward cycle: x, G(x), F(G(x))."""

    real: Image.Image
    translated: Image.Image
    reconstructed: Image.Image


@dataclass(frozen=True)
class LessonFrame:
    """Every variant at one recorded step: `losses[label]` (every LOSS_NAMES term, averaged
    over the steps since the previous frame; at step 0 the terms before any training),
    `metrics[label]` (the measurements) and `previews[label]` (the preview inputs' cycles)."""

    step: int
    losses: dict[str, dict[str, float]]
    metrics: dict[str, dict[str, float]]
    previews: dict[str, tuple[CycleImages, ...]]

    def grid(self, scale: int = 3, gap: int = 2) -> Image.Image:
        """A row per variant: each preview input's x, G(x), F(G(x)) side by side."""
        return image_grid([[image for cycle in cycles for image in (cycle.real, cycle.translated, cycle.reconstructed)]
                           for cycles in self.previews.values()], scale, gap)


class RecordedLesson:
    """A lesson as recorded: its spec (what was run) and `frames` recorded steps to play back."""

    def __init__(self, path: Path, spec: Lesson, steps: list[int], losses: list[dict], metrics: list[dict],
                 references: dict[str, dict[str, float]], sprites: dict[str, Image.Image], image_size: int):
        self.path, self.spec, self.steps, self.image_size = path, spec, steps, image_size
        self.losses, self.metrics, self.references, self.sprites = losses, metrics, references, sprites

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def labels(self) -> list[str]:
        return [variant.label for variant in self.spec.variants]

    @property
    def frames(self) -> int:
        return len(self.steps)

    def frame(self, i: int) -> LessonFrame:
        """Frame `i` (0 … frames − 1; negative counts from the end, as for lists)."""
        if not -self.frames <= i < self.frames:
            raise IndexError(f"frame {i} of a lesson with {self.frames} frames")
        i %= self.frames
        size = self.image_size
        previews = {}
        for label in self.labels:
            row = self.sprites[label].crop((0, i * size, self.sprites[label].width, (i + 1) * size))
            tiles = [row.crop((k * size, 0, (k + 1) * size, size)) for k in range(row.width // size)]
            previews[label] = tuple(CycleImages(*tiles[k:k + 3]) for k in range(0, len(tiles), 3))
        return LessonFrame(self.steps[i], self.losses[i], self.metrics[i], previews)

    def curves(self, upto_frame: int | None = None) -> dict[str, dict[str, list[float]]]:
        """Per variant, a column per quantity for plotting, up to and including `upto_frame`
        (default: all): "step", every loss term, every measurement recorded."""
        end = self.frames if upto_frame is None else max(0, min(upto_frame, self.frames - 1)) + 1
        curves = {}
        for label in self.labels:
            columns: dict[str, list[float]] = {"step": [float(s) for s in self.steps[:end]]}
            for i in range(end):
                for name, value in {**self.losses[i][label], **self.metrics[i][label]}.items():
                    columns.setdefault(name, []).append(value)
            curves[label] = columns
        return curves

    def final(self, label: str, metric: str) -> float:
        """`metric` of variant `label` at the end: its mean over the last quarter of the frames
        (at least one), because adversarial training wobbles from frame to frame."""
        tail = self.metrics[-max(1, self.frames // 4):]
        return sum(frame[label][metric] for frame in tail) / len(tail)

    @property
    def outcome(self) -> str:
        """One sentence from the recorded measurements, e.g. "Input dependence over the last 60
        steps: 0.67 with λ_cycle = 10, 0.05 with λ_cycle = 0 (0 = the same output whatever the
        input).". Only the numbers come from the recording."""
        metric, tail = self.spec.metric, max(1, self.frames // 4)
        span = self.steps[-1] - self.steps[-tail]
        when = f"over the last {span} step{'s' * (span != 1)}" if span else f"after {self.steps[-1]} steps"
        values = ", ".join(f"{self.final(label, metric):.2f} with {label}" for label in self.labels)
        title = METRICS[metric]
        reading = READINGS[metric].format(**{kind: values[metric] for kind, values in self.references.items()})
        return f"{title[0].upper()}{title[1:]} {when}: {values} ({reading})."

    @property
    def shows_effect(self) -> bool | None:
        """Whether the variant the lesson expects lowest did end lowest on its metric (None for a
        lesson without a comparison)."""
        if self.spec.expected_lower is None:
            return None
        finals = {label: self.final(label, self.spec.metric) for label in self.labels}
        return min(finals, key=finals.get) == self.spec.expected_lower


# Measurements --------------------------------------------------------------------------------


def input_dependence(inputs: torch.Tensor, outputs: torch.Tensor) -> float:
    """Mean pairwise L1 distance between outputs ÷ that between their inputs, on BLOCK×BLOCK
    block averages: 0 when every input gives the same output."""
    a, b = (F.avg_pool2d(x.float(), BLOCK).flatten(1) for x in (inputs, outputs))
    return float(torch.cdist(b, b, p=1).sum() / torch.cdist(a, a, p=1).sum().clamp_min(1e-12))


def colour_shift(outputs: torch.Tensor, pairs: Pairs) -> float:
    """Mean |region-average colour of G(a) − of b*| over the regions that are object in both a
    and b*, and background in both."""
    regions = [(pairs.mask_a > 0.9) & (pairs.mask_b > 0.9), (pairs.mask_a < 0.1) & (pairs.mask_b < 0.1)]
    shifts = []
    for region in regions:
        weight = region.float()
        count = weight.sum((2, 3))
        keep = count[:, 0] > 0
        if keep.any():
            mean_out = (outputs * weight).sum((2, 3)) / count.clamp_min(1)
            mean_true = (pairs.b * weight).sum((2, 3)) / count.clamp_min(1)
            shifts.append((mean_out - mean_true).abs().mean(1)[keep])
    return float(torch.cat(shifts).mean())


def outline_change(outputs: torch.Tensor, pairs: Pairs) -> float | None:
    """Where b*'s objects cover what was a's background (not counting the pixel next to a's
    objects, which a blurry output smudges), G(a)'s colour projected onto the line from G(a)'s
    background colour (0) to its objects' colour (1), averaged over the images where that
    region has a few pixels; None when the outlines never differ."""
    near_a = F.max_pool2d(pairs.mask_a, 3, stride=1, padding=1)  # a's objects and the pixel around them
    grown = (pairs.mask_b > 0.9) & (near_a < 0.1)
    inside = (pairs.mask_a > 0.9) & (pairs.mask_b > 0.9)
    outside = (pairs.mask_a < 0.1) & (pairs.mask_b < 0.1)
    fills = []
    for image, g, i, o in zip(outputs.float(), grown[:, 0], inside[:, 0], outside[:, 0]):
        if g.sum() < 4 or i.sum() < 4 or o.sum() < 4:
            continue
        corner, obj, background = image[:, g].mean(1), image[:, i].mean(1), image[:, o].mean(1)
        axis = obj - background
        if float(axis.norm()) > 0.1:  # the output's objects stand out from its background at all
            fills.append(float(torch.dot(corner - background, axis) / torch.dot(axis, axis)))
    return sum(fills) / len(fills) if fills else None


def measure_outputs(translated: torch.Tensor, reconstructed: torch.Tensor, pairs: Pairs) -> dict[str, float]:
    """Every measurement of outputs G(a) and reconstructions F(G(a)) of the inputs `pairs.a`
    (outline_change only where the task changes outlines)."""
    values = {
        "cycle_error": float((reconstructed - pairs.a).abs().mean()),
        "input_dependence": input_dependence(pairs.a, translated),
        "colour_shift": colour_shift(translated, pairs),
    }
    outline = outline_change(translated, pairs)
    if outline is not None:
        values["outline_change"] = outline
    return values


def measure(run: LiveRun) -> dict[str, float]:
    """Every measurement of `run` now, on its held-out inputs."""
    images = run.cycles()
    return measure_outputs(images["fake_B"], images["rec_A"], run.held_out)


def references(pairs: Pairs) -> dict[str, dict[str, float]]:
    """The measurements of two outputs a lesson is read against: "unchanged" (G(a) = a) and
    "true" (G(a) = b*, the true translation), each with a perfect reconstruction."""
    return {"unchanged": measure_outputs(pairs.a, pairs.a, pairs), "true": measure_outputs(pairs.b, pairs.a, pairs)}


# The catalogue -------------------------------------------------------------------------------

LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in (
    Lesson(
        name="cycle", title="Why the cycle? λ_cycle = 10 vs 0",
        explanation=(
            "Both runs learn to turn striped objects into dotted ones, judged by a discriminator that only asks "
            "\"does this look like a real dotted picture?\" (Eq. 1). The first run also has the cycle loss "
            "(Eq. 2): translating back must give the input again, so the output has to keep what the input "
            "was. Watch the colours: with the cycle, a green striped ball stays green. Without it nothing ties "
            "the output to its input: it comes out in whatever colours fool the discriminator, much the same "
            "for every input, and they change as training goes on. The input dependence curve measures it: "
            "how much the outputs differ from one another compared with how much their inputs do."),
        task="stripes_dots",
        variants=(Variant("λ_cycle = 10", 10.0, 0.5), Variant("λ_cycle = 0", 0.0, 0.5)),
        steps=300, record_every=15, metric="input_dependence", expected_lower="λ_cycle = 0"),
    Lesson(
        name="identity", title="The identity loss: λ_identity = 0.5 vs 0",
        explanation=(
            "Both runs have the cycle loss; the first also has the identity loss (Sec. 5.2): given a picture "
            "that is already dotted, G should hand it back unchanged. That teaches G to keep what it need not "
            "change, such as colours. Without it the cycle only asks that F can undo G, and a purple ball "
            "turned orange can be turned back: watch the colours of the middle pictures drift and flicker. "
            "The colour shift curve measures how far the outputs' colours are from the right ones."),
        task="stripes_dots",
        variants=(Variant("λ_identity = 0.5", 10.0, 0.5), Variant("λ_identity = 0", 10.0, 0.0)),
        steps=300, record_every=15, metric="colour_shift", expected_lower="λ_identity = 0.5"),
    Lesson(
        name="geometry", title="What CycleGAN cannot do: circles → squares",
        explanation=(
            "Here the two domains differ in shape, not in colour or texture: circles in A, squares in B. "
            "CycleGAN's generators are built to change how things look where they are, and the cycle loss "
            "rewards keeping the input's layout, so the outputs keep the circles' outline and at most "
            "smudge their edges (the paper's Sec. 6 reports the same for dog → cat). The outline change "
            "curve measures how far the squares' corners were painted in: 0 kept the circle, 1 drew the square."),
        task="circles_squares", variants=(Variant("circles → squares", 10.0, 0.5),),
        steps=300, record_every=15, metric="outline_change"),
    Lesson(
        name="little_data", title="Too little data: fresh images vs two per domain",
        explanation=(
            "The first run sees new pictures at every step; the second only ever sees the same two striped "
            "and two dotted pictures (unpaired, as always). Two pictures teach the discriminator nothing "
            "general about dots, and G fits itself to the few pictures it has seen: on new inputs its outputs "
            "come out alike, pale and noisy, whatever they are given, and translating back no longer finds "
            "the input. The input dependence curve shows it falling behind the run with plenty of data."),
        task="stripes_dots",
        variants=(Variant("new images every step", 10.0, 0.5), Variant("2 images per domain", 10.0, 0.5, 2)),
        steps=300, record_every=15, metric="input_dependence", expected_lower="2 images per domain"),
)}


# Recording -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantRecording:
    """One variant's recording: at each recorded step, its losses, measurements and preview row."""

    steps: list[int]
    losses: list[dict[str, float]]
    metrics: list[dict[str, float]]
    references: dict[str, dict[str, float]]
    sprite: Image.Image


def record_lesson(lesson: Lesson, out_dir: Path | str, steps: int | None = None, seed: int | None = None,
                  progress: Callable[[str], None] | None = None) -> RecordedLesson:
    """Train each variant of `lesson` and write `out_dir/<lesson.name>/`; returns it loaded back.
    `steps` shortens (or lengthens) the run, keeping about as many frames; `seed` replaces the
    lesson's. `progress` is called with a line of text now and then."""
    total = lesson.steps if steps is None else steps
    every = lesson.record_every if steps is None else max(1, round(lesson.record_every * total / lesson.steps))
    spec = dataclasses.replace(lesson, steps=total, record_every=every, seed=lesson.seed if seed is None else seed)
    spec.check()
    start = time.perf_counter()
    recordings = [record_variant(spec, variant, progress, start) for variant in spec.variants]
    folder = Path(out_dir) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    sprites = {}
    for index, (variant, recording) in enumerate(zip(spec.variants, recordings)):
        sprites[variant.label] = f"variant-{index}.png"
        with atomic_path(folder / sprites[variant.label]) as tmp:
            recording.sprite.save(tmp, format="png", optimize=True)
    frames = [{"step": step,
               "losses": {v.label: r.losses[i] for v, r in zip(spec.variants, recordings)},
               "metrics": {v.label: r.metrics[i] for v, r in zip(spec.variants, recordings)}}
              for i, step in enumerate(recordings[0].steps)]
    document = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "lesson": spec.to_dict(),
        "image_size": recordings[0].sprite.height // len(frames), "preview_inputs": PREVIEW_INPUTS,
        "sprites": sprites, "frames": frames, "references": recordings[0].references,
        "recorded": {"seconds": round(time.perf_counter() - start, 1), "torch": torch.__version__},
    }
    atomic_write_text(folder / LESSON_FILE, json.dumps(document, ensure_ascii=False, indent=1) + "\n")
    return load_lesson(folder)


def record_variant(spec: Lesson, variant: Variant, progress: Callable[[str], None] | None,
                   start: float) -> VariantRecording:
    """Train one variant for `spec.steps` steps, recording step 0, every `spec.record_every`
    steps and the last. A frame's losses are the mean of the steps since the previous frame (at
    step 0, `loss_terms` on held-out inputs: nothing has been trained yet)."""
    run = LiveRun(spec.task, variant.lambda_cycle, variant.lambda_identity, seed=spec.seed,
                  data_size=variant.data_size, settings=spec.settings)
    n = spec.settings.batch_size
    recording = VariantRecording([], [], [], references(run.held_out), Image.new("RGB", (1, 1)))
    rows, since_last = [], []
    for step in range(spec.steps + 1):
        if step:
            since_last.append(run.train_step())
        if step % spec.record_every and step != spec.steps:
            continue
        recording.steps.append(step)
        recording.losses.append(average(since_last) if since_last else run.loss_terms(run.held_out.a[:n],
                                                                                          run.held_out.b[:n]))
        recording.metrics.append(measure(run))
        rows.append(preview_row(run))
        since_last = []
        if progress is not None and (step % (spec.record_every * 5) == 0 or step == spec.steps):
            progress(f"{spec.name}: {variant.label}: step {step}/{spec.steps} ({time.perf_counter() - start:.0f} s)")
    return dataclasses.replace(recording, sprite=image_grid(rows, scale=1, gap=0))


def average(losses: list[dict[str, float]]) -> dict[str, float]:
    return {name: sum(step[name] for step in losses) / len(losses) for name in LOSS_NAMES}


def preview_row(run: LiveRun) -> list[Image.Image]:
    """The first PREVIEW_INPUTS held-out inputs' x, G(x), F(G(x)), side by side."""
    images = run.cycles(run.held_out.a[:PREVIEW_INPUTS], run.held_out.b[:PREVIEW_INPUTS])
    real, translated, reconstructed = (to_images(images[name]) for name in ("real_A", "fake_B", "rec_A"))
    return [image for cycle in zip(real, translated, reconstructed) for image in cycle]


# Playback ------------------------------------------------------------------------------------


def load_lessons(folder: Path | str) -> dict[str, RecordedLesson]:
    """Every recorded lesson in `folder` (one subfolder each), by name, in the catalogue's order
    and then by name. A subfolder that is not a usable lesson is a CycleGANError that names it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CycleGANError(f"{folder}: no such folder of recorded lessons")
    lessons = [load_lesson(path) for path in sorted(folder.iterdir())
               if path.is_dir() and not path.name.startswith(".")]
    names = [lesson.name for lesson in lessons]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise CycleGANError(f"{folder}: more than one recording of the lesson(s) {', '.join(twice)}")
    order = list(LESSONS)
    lessons.sort(key=lambda lesson: (order.index(lesson.name) if lesson.name in order else len(order), lesson.name))
    return {lesson.name: lesson for lesson in lessons}


def load_lesson(folder: Path | str) -> RecordedLesson:
    """One recorded lesson folder, checked throughout; a CycleGANError says what is wrong."""
    folder = Path(folder)
    try:
        return read_lesson(folder)
    except CycleGANError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise CycleGANError(f"{folder}: not a usable recorded lesson ({type(e).__name__}: {e}); "
                            f"re-record it with scripts/record_lessons.py") from None


def read_lesson(folder: Path) -> RecordedLesson:
    """`load_lesson`'s checks in order: the JSON, its format and version, the spec, every frame's
    numbers, the references, then each sprite's name and size (before decoding it)."""

    def refuse(reason: str) -> CycleGANError:
        return CycleGANError(f"{folder}: not a usable recorded lesson ({reason}); "
                             f"re-record it with scripts/record_lessons.py")

    path = folder / LESSON_FILE
    if not path.is_file():
        raise refuse(f"no {LESSON_FILE}")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise refuse(f"{LESSON_FILE} is not valid JSON: {e}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise refuse(f"{LESSON_FILE} is not a CycleGAN Studio lesson")
    if document.get("format_version") != FORMAT_VERSION:
        raise refuse(f"format version {document.get('format_version')!r}; this version reads {FORMAT_VERSION}")
    spec = Lesson.from_dict(document["lesson"])
    labels = [variant.label for variant in spec.variants]
    size, inputs = document["image_size"], document["preview_inputs"]
    if not (isinstance(size, int) and 8 <= size <= 256 and isinstance(inputs, int) and 1 <= inputs <= 64):
        raise refuse("bad image_size or preview_inputs")
    frames = document["frames"]
    if not isinstance(frames, list) or len(frames) < 1:
        raise refuse("no frames")
    steps, losses, metrics = [], [], []
    for frame in frames:
        step = frame["step"]
        if not isinstance(step, int) or (steps and step <= steps[-1]):
            raise refuse("frame steps are not increasing whole numbers")
        steps.append(step)
        losses.append({label: numbers(frame["losses"][label], LOSS_NAMES, refuse) for label in labels})
        metrics.append({label: numbers(frame["metrics"][label], None, refuse) for label in labels})
    refs = document["references"]
    if not isinstance(refs, dict) or set(refs) != {"unchanged", "true"}:
        raise refuse("bad references")
    refs = {kind: numbers(refs[kind], None, refuse) for kind in ("unchanged", "true")}
    sprites = {}
    for label in labels:
        name = document["sprites"][label]
        if not isinstance(name, str) or not SPRITE_NAME.match(name):
            raise refuse(f"bad sprite file name {name!r}")
        with Image.open(folder / name) as image:  # reads the header only: the size is checked first
            if image.size != (inputs * 3 * size, len(frames) * size):
                raise refuse(f"{name} is {image.width}×{image.height}, expected "
                             f"{inputs * 3 * size}×{len(frames) * size} for {len(frames)} frames")
            sprites[label] = image.convert("RGB")
    if not all(set(refs[kind]) >= set(metrics[0][label]) for kind in refs for label in labels):
        raise refuse("the references lack a measurement")
    return RecordedLesson(folder, spec, steps, losses, metrics, refs, sprites, size)


def numbers(values: dict, names, refuse) -> dict[str, float]:
    """`values` checked to be finite numbers (and, when `names` is given, exactly those)."""
    if not isinstance(values, dict) or (names is not None and set(values) != set(names)):
        raise refuse("a frame's losses or measurements are incomplete")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values.values()):
        raise refuse("a frame holds a value that is not a finite number")
    return {name: float(values[name]) for name in (names if names is not None else values)}
