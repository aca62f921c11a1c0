"""Is it working? Plain-language checks on a running or finished run, from what it already
produces: the loss log (`runs.RunFolder.read_log`) and the previews (`train.Preview.images`).

    from cyclegan_core.teaching.doctor import diagnose, summary

    log = run.read_log()                                   # [{"step", "G_AB", …, "D_B", "lr"}, …]
    findings = diagnose(log, run.read_previews())          # the latest few previews, oldest first
    print(summary(findings, steps=len(log)))               # "No problems found so far (300 steps checked)."

Each `Finding` says what is wrong (`title`, `message`), what to try (`advice`) and the numbers it
was computed from. The checks (names as in the paper, Zhu et al. 2017: `G_AB` is G, `G_BA` is F,
`D_A` is D_X, `D_B` is D_Y):

    d_wins             a discriminator's loss (Eq. 1, halved) near 0 while its generator's nears 1
    does_nothing       G(a) ≈ a or F(b) ≈ b: copying the input satisfies Eq. 2 and the identity loss
    colour_inversion   the output's brightness is the input's turned upside down (a Eq. 2 shortcut)
    checkerboard       a grid every 2 or 4 pixels: the upsampling transposed convolutions' artifact
    ignores_input      the same output whatever the input (mode collapse)

Evidence first: nothing is judged before `MIN_STEPS` steps, losses are averaged over the last
`WINDOW` steps, and an image check fires only when each of the latest previews (at least
`MIN_PREVIEWS`, at most `RECENT_PREVIEWS`) shows it. All of it takes a few milliseconds.

Previews are dicts of images named as `losses.PREVIEW_NAMES`: PIL images, or tensors in the
generators' range [-1, 1] (3×H×W or 1×3×H×W, as `CycleGANTrainer.cycles` returns them).

Does the output depend on the input? One preview already answers it for both generators: G sees
two different inputs in it, a (→ fake_B) and F(b) (→ rec_B = G(F(b))), and F sees b and G(a).
Callers holding a model can measure it on more inputs with `input_dependence(generator, images)`
and pass the result as `diagnose(…, dependence={"G_AB": …, "G_BA": …})`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

import numpy as np
import torch
from PIL import Image

from cyclegan_core.nn.losses import PREVIEW_NAMES

PreviewImage = Union[Image.Image, torch.Tensor]

# --- how much evidence a check needs ---
MIN_STEPS = 50  # before this the networks are still leaving their initialisation: anything goes
WINDOW = 25  # steps a loss is averaged over: one step sees one image pair, its losses are noisy
RECENT_PREVIEWS = 3  # the latest previews judged (with previews every 10 steps: the last 20 steps)
MIN_PREVIEWS = 2  # one preview could catch a passing moment; two that agree are a trend

# --- thresholds, each explained where it is used ---
D_WINS = {"lsgan": (0.05, 0.7), "vanilla": (0.05, 2.3)}  # (D loss below, G's adversarial loss above)
NOTHING_CHANGED = 0.05  # mean |G(a) − a| ÷ a's own mean deviation
INVERTED = -0.5  # correlation of output and input brightness
CHECKER_PEAK = 8.0  # energy at a period-2/4 frequency ÷ the energy around it, in the output …
CHECKER_OVER_INPUT = 3.0  # … and this many times the same ratio in the input
IGNORED = 0.1  # output spread ÷ input spread across different inputs
MIN_INPUT_SPREAD = 0.02  # inputs closer than this (`spread`, in [0, 1]: 5 grey levels) cannot tell apart

# The generators, what they translate and which discriminator judges their output (Eq. 1).
GENERATORS = {"G_AB": ("real_A", "fake_B", "D_B"), "G_BA": ("real_B", "fake_A", "D_A")}


@dataclass(frozen=True)
class Finding:
    """One problem: `check` (an id such as "d_wins"), the `network` it is about ("G_AB", "G_BA",
    "D_A" or "D_B"), `severity` ("warning": watch it; "problem": the run is not learning the
    translation), what a student reads (`title`, `message`), what to try (`advice`) and the
    numbers behind it (`evidence`, by name)."""

    check: str
    network: str
    severity: str
    title: str
    message: str
    advice: tuple[str, ...]
    evidence: Mapping[str, float] = field(default_factory=dict)


def diagnose(log: Sequence[Mapping[str, float]], previews: Sequence[Mapping[str, PreviewImage]] | None = None,
             dependence: Mapping[str, float] | None = None, gan_mode: str = "lsgan") -> list[Finding]:
    """The problems a run shows: `log` is its loss records, oldest first; `previews` its latest
    previews, oldest first; `dependence` (optional) `input_dependence` per generator ("G_AB",
    "G_BA"), measured by a caller with the model. [] when healthy or too early to tell."""
    if len(log) < MIN_STEPS:
        return []
    recent = [to_array_images(p) for p in (previews or [])[-RECENT_PREVIEWS:]]
    if len(recent) < MIN_PREVIEWS:
        recent = []  # too little to go on: the image checks stay quiet
    return (check_d_wins(log, gan_mode) + check_does_nothing(recent) + check_colour_inversion(recent)
            + check_checkerboard(recent) + check_ignores_input(recent, dependence or {}))


def summary(findings: Sequence[Finding], steps: int) -> str:
    """The findings as Markdown for a page, or a sentence saying that none were found."""
    if steps < MIN_STEPS:
        return f"Too early to tell: {steps} step(s) so far; the checks start after {MIN_STEPS} steps."
    if not findings:
        return f"No problems found so far ({steps} steps checked)."
    parts = [f"**{len(findings)} thing(s) to look at** after {steps} steps:"]
    for f in findings:
        parts.append(f"**{'⚠' if f.severity == 'warning' else '✖'} {f.title}.** {f.message}\n"
                     + "\n".join(f"- {tip}" for tip in f.advice))
    return "\n\n".join(parts)


# --- the checks on the losses ---

def check_d_wins(log: Sequence[Mapping[str, float]], gan_mode: str = "lsgan") -> list[Finding]:
    """D wins: its loss (Eq. 1, halved) near 0 while its generator's adversarial loss nears the
    value of a fake D rejects outright. LSGAN: D's loss starts near 0.5, a balanced run keeps it
    around 0.1–0.3; below 0.05 D's outputs miss its 0/1 targets by about 0.3 or less (RMS). G's
    loss is (D(G(a)) − 1)²: above 0.7, D scores the fakes 0.16 or less on average (1 − √0.7).
    Vanilla (cross-entropy): D's loss 0.05 is D right with 95% confidence; G's 2.3 is D(fake) < 0.1."""
    d_limit, g_limit = D_WINS[gan_mode]
    findings = []
    for generator, (_, output, judge) in GENERATORS.items():
        d, g = recent_mean(log, judge), recent_mean(log, generator)
        if d is None or g is None or not (d < d_limit and g > g_limit):
            continue
        findings.append(Finding(
            "d_wins", judge, "warning", f"The discriminator {judge} is winning",
            f"{judge} tells real images from {generator}'s translations ({output}) almost perfectly: its loss "
            f"averaged {d:.3f} over the last {WINDOW} steps (it starts near 0.5 and a balanced run stays around "
            f"0.1–0.3), while {generator}'s adversarial loss rose to {g:.2f} ({g_limit:g} or more means nearly every "
            f"fake is caught). A generator that always loses gets little direction from D to improve.",
            ("Lower the learning rate, or let the discriminators learn more slowly than the generators.",
             "Use more, and more varied, training images: a discriminator memorises a small set quickly.",
             "Keep the history of fakes on (image pool of 50, Sec. 4 of the paper).",
             "If the translations already look good, stop here: more steps only let D pull further ahead."),
            {f"{judge}_loss": d, f"{generator}_loss": g, "window": float(WINDOW)}))
    return findings


def recent_mean(log: Sequence[Mapping[str, float]], name: str, window: int = WINDOW) -> float | None:
    """`name`'s mean over the last `window` records (None if they do not all have it)."""
    values = [r[name] for r in log[-window:] if name in r]
    return float(np.mean(values)) if len(values) == window else None


# --- the checks on the previews ---

def check_does_nothing(previews: list[dict[str, np.ndarray]]) -> list[Finding]:
    """G(a) ≈ a: copying satisfies the cycle loss (Eq. 2) and the identity loss perfectly. Fires
    when the mean change is under 5% of the input's own variation (mean deviation from its mean)
    in every recent preview. Measured on photo crops: a copy is 0–0.02 (±1 grey level), a copy
    with faint noise (σ 2.5 grey levels) 0.04–0.07, a subtle colour grade (±5–8% per channel)
    0.12–0.19, a fresh generator's output 1 or more."""
    findings = []
    for generator, (source, output, _) in GENERATORS.items():
        changes = in_every(shown(previews, source, output), lambda p: relative_change(p[output], p[source]),
                           lambda c: c < NOTHING_CHANGED)
        if not changes:
            continue
        findings.append(Finding(
            "does_nothing", generator, "problem", f"{generator} hands back its input almost unchanged",
            f"{generator}'s output ({output}) differs from its input ({source}) by only {max(changes):.1%} of how "
            f"much the input itself varies. Copying the input satisfies the cycle loss (Eq. 2) and the identity "
            f"loss perfectly, and the discriminator has not pushed the generator away from it.",
            ("Lower λ identity (it rewards copying; 0 turns it off).",
             "Check that the two image sets really differ: if they look alike, copying is the right answer.",
             "Train longer or with a higher learning rate so the adversarial loss (Eq. 1) can take effect.",
             "Fine-tune from a model made for similar domains instead of starting from scratch."),
            {"relative_change": max(changes), "previews": float(len(previews))}))
    return findings


def check_colour_inversion(previews: list[dict[str, np.ndarray]]) -> list[Finding]:
    """Brightness turned upside down: an inversion is trivially inverted back, so the cycle loss
    (Eq. 2) is satisfied by it. Fires when the correlation of output and input brightness is below
    −0.5 in every recent preview; a translation keeps the scene's light and shade (even day →
    night keeps a positive correlation), and a random one is near 0."""
    findings = []
    for generator, (source, output, _) in GENERATORS.items():
        correlations = in_every(shown(previews, source, output), lambda p: brightness_correlation(p[output], p[source]),
                                lambda c: c < INVERTED)
        if not correlations:
            continue
        channels = channel_correlations(previews[-1][output], previews[-1][source])
        findings.append(Finding(
            "colour_inversion", generator, "problem", f"{generator} inverts the colours",
            f"Where the input ({source}) is bright, {generator}'s output ({output}) is dark and the other way round "
            f"(brightness correlation {max(correlations):+.2f}; −1 is a perfect negative). An inverted image is easy "
            f"to invert back, so the cycle loss (Eq. 2) is happy with it: a known shortcut.",
            ("Turn the identity loss on or up (λ identity 0.5, Sec. 5.2 of the paper: it keeps colours).",
             "Fine-tune from a pretrained model instead of starting from scratch.",
             "Restart with another seed or a lower learning rate: the shortcut is picked early."),
            {"brightness_correlation": max(correlations), **{f"correlation_{c}": v for c, v in channels.items()}}))
    return findings


def check_checkerboard(previews: list[dict[str, np.ndarray]]) -> list[Finding]:
    """A grid every 2 or 4 pixels: each stride-2 transposed convolution (u128, u64) overlaps its
    kernel unevenly (Odena et al. 2016). Fires when the output's energy at such a frequency is 8×
    the energy around it and 3× the same ratio in the input, in every recent preview. Measured on
    photo crops (32–256 px) the ratio is about 2 (the residual's spectrum rises towards the highest
    frequencies) and rarely above 6, white noise stays under 6; a freshly initialised generator's
    visible grid scores 15–140. Some photos score high too (a cat's fine fur, JPEG blocks: 20),
    hence the comparison with the input, whose texture a faithful translation keeps."""
    findings = []
    for generator, (source, output, _) in GENERATORS.items():
        peaks = in_every(shown(previews, source, output), lambda p: checker_excess(p[output], p[source]),
                         lambda peak: peak is not None)
        if not peaks:
            continue
        ratio, input_ratio, period = min(peaks)
        findings.append(Finding(
            "checkerboard", generator, "warning", f"{generator}'s output has checkerboard artifacts",
            f"{generator}'s output ({output}) has a regular pattern every {period} pixels: {ratio:.0f}× the energy "
            f"around it at that frequency, against {input_ratio:.1f}× in the input. It comes from the transposed "
            f"convolutions that upsample inside the generator.",
            ("Train longer: early checkerboards often fade as the generator learns.",
             "Lower the learning rate.",
             "Look at the output at full size: a faint pattern may not matter for your use.",
             ("In code: upsample by resizing then convolving instead of transposed convolutions (Odena et al., "
              "Distill 2016).")),
            {"peak_ratio": ratio, "input_peak_ratio": input_ratio, "period": float(period)}))
    return findings


def check_ignores_input(previews: list[dict[str, np.ndarray]], dependence: Mapping[str, float]) -> list[Finding]:
    """Mode collapse: the same output whatever the input. Each preview gives G two inputs (a and
    F(b)) and F two (b and G(a)); `dependence` may add a caller's own measurement. Fires below 0.1:
    the outputs differ less than a tenth as much as the inputs do, where a translation (which keeps
    the scene) and even a fresh random generator keep most of the difference."""
    findings = []
    for generator in GENERATORS:
        given = [dependence[generator]] if generator in dependence else []
        measured = in_every(previews, lambda p: preview_dependence(p, generator),
                            lambda d: d is not None and d < IGNORED) if previews else []
        ratios = given + (measured or [])
        if measured is None or not ratios or not all(r < IGNORED for r in ratios):
            continue  # a preview that shows dependence (or cannot tell) outweighs a low measurement
        findings.append(Finding(
            "ignores_input", generator, "problem", f"{generator}'s output no longer depends on its input",
            f"{generator} gives nearly the same picture for different inputs: its outputs differ {max(ratios):.0%} as "
            f"much as the inputs do. The generator found an image the discriminator accepts and makes it for "
            f"everything (mode collapse); the cycle loss (Eq. 2) is what should forbid this.",
            ("Raise λ cycle (10 in the paper) so the input must be recoverable from the output.",
             "Resume from an earlier, healthy checkpoint with a lower learning rate.",
             "Use more, and more varied, training images."),
            {"dependence": max(ratios), "measurements": float(len(ratios))}))
    return findings


def shown(previews: list[dict[str, np.ndarray]], *names: str) -> list[dict[str, np.ndarray]]:
    """The previews, if every one has all of `names` (a caller may show one direction only); else []."""
    return previews if all(name in p for p in previews for name in names) else []


def in_every(previews: list[dict[str, np.ndarray]], measure, fires) -> list | None:
    """`measure` of each preview, newest first, if `fires` for every one of them; None as soon as
    one does not, and for no previews. The newest is measured first: a healthy run costs one."""
    values = []
    for preview in reversed(previews):
        value = measure(preview)
        if not fires(value):
            return None
        values.append(value)
    return values or None


# --- measurements (images as H×W×3 float arrays in [0, 1]) ---

def to_array(image: PreviewImage) -> np.ndarray:
    """A PIL image, or a tensor in [-1, 1] (3×H×W or 1×3×H×W), as an H×W×3 float array in [0, 1]."""
    if isinstance(image, torch.Tensor):
        t = image.detach().float().cpu().reshape(-1, *image.shape[-2:])
        return ((t.permute(1, 2, 0).numpy() + 1.0) / 2.0).clip(0.0, 1.0)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def to_array_images(preview: Mapping[str, PreviewImage]) -> dict[str, np.ndarray]:
    return {name: to_array(preview[name]) for name in PREVIEW_NAMES if name in preview}


def relative_change(output: np.ndarray, source: np.ndarray) -> float:
    """Mean |output − source| ÷ the source's mean absolute deviation from its own mean (inf for a
    flat source, which gives nothing to compare against)."""
    spread = float(np.mean(np.abs(source - source.mean(axis=(0, 1)))))
    if output.shape != source.shape or spread < 1e-3:
        return float("inf")
    return float(np.mean(np.abs(output - source))) / spread


def brightness(image: np.ndarray) -> np.ndarray:
    return image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays (0 when either is flat or shapes differ)."""
    if x.shape != y.shape:
        return 0.0
    x, y = x.ravel() - x.mean(), y.ravel() - y.mean()
    norm = float(np.sqrt(np.dot(x, x) * np.dot(y, y)))
    return float(np.dot(x, y)) / norm if norm > 1e-9 else 0.0


def brightness_correlation(output: np.ndarray, source: np.ndarray) -> float:
    return correlation(brightness(output), brightness(source))


def channel_correlations(output: np.ndarray, source: np.ndarray) -> dict[str, float]:
    return {c: correlation(output[..., i], source[..., i]) if output.shape == source.shape else 0.0
            for i, c in enumerate("RGB")}


def checker_excess(output: np.ndarray, source: np.ndarray) -> tuple[float, float, int] | None:
    """(peak ratio in the output, the same in the input, period) at the frequency where the output
    stands out most, if any passes both thresholds; else None. The period is 4 if any frequency of
    period 4 passes (a grid every 4 pixels has energy at period 2 too)."""
    peaks = checker_peaks(output)
    if not any(ratio > CHECKER_PEAK for ratio, _ in peaks):
        return None  # the usual case: the input need not be measured
    found = [(ratio, input_ratio, period) for (ratio, period), (input_ratio, _) in zip(peaks, checker_peaks(source))
             if ratio > CHECKER_PEAK and ratio > CHECKER_OVER_INPUT * input_ratio]
    if not found:
        return None
    ratio, input_ratio, _ = max(found)
    return ratio, input_ratio, max(period for _, _, period in found)


def checker_peaks(image: np.ndarray) -> list[tuple[float, int]]:
    """(peak ratio, period) at each frequency a checkerboard of period 2 or 4 puts energy at: the
    energy of the high-pass residual (image − its 3×3 box blur, Hann-windowed) in the 3×3 bins
    around the frequency ÷ the mean energy of the 9×9 bins around it, per bin. About 2 for a
    photo's smooth spectrum; a periodic grid puts a spike there."""
    h, w = image.shape[:2]
    if min(h, w) < 16:
        return []
    channels = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float64)
    residual = (channels - box_blur(channels)) * np.outer(np.hanning(h), np.hanning(w))
    power = (np.abs(np.fft.fft2(residual)) ** 2).sum(axis=0)
    peaks = []
    for fy, fx, period in CHECKER_FREQUENCIES:
        y, x = round(fy * h), round(fx * w)
        near = power[np.ix_(np.arange(y - 1, y + 2) % h, np.arange(x - 1, x + 2) % w)].sum()
        around = power[np.ix_(np.arange(y - 4, y + 5) % h, np.arange(x - 4, x + 5) % w)].sum()
        background = (around - near) / (81 - 9)
        peaks.append((float(near / 9 / background) if background > 0 else 0.0, period))
    return peaks


# Frequencies (cycles per pixel, vertical and horizontal) of a grid repeating every 2 pixels (one
# transposed convolution) or every 4 (two of them, as in the ResNet generator); one of each ± pair.
CHECKER_FREQUENCIES = ((0.5, 0.0, 2), (0.0, 0.5, 2), (0.5, 0.5, 2),
                       (0.25, 0.0, 4), (0.0, 0.25, 4), (0.25, 0.25, 4), (0.25, -0.25, 4), (0.25, 0.5, 4),
                       (0.5, 0.25, 4))


def box_blur(channels: np.ndarray) -> np.ndarray:
    """3×3 mean of each C×H×W channel, edges reflected (separable: rows, then columns)."""
    padded = np.pad(channels, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    return (rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]) / 9.0


def spread(images: np.ndarray) -> float:
    """How much N images differ: the per-pixel standard deviation across them, averaged."""
    return float(images.std(axis=0).mean())


def preview_dependence(preview: dict[str, np.ndarray], generator: str) -> float | None:
    """`generator`'s output spread ÷ input spread on its two inputs in one preview (G: a and F(b)
    → G(a) and G(F(b)); F: b and G(a) → F(b) and F(G(a))); None when the inputs are too alike."""
    pairs = {"G_AB": (("real_A", "fake_A"), ("fake_B", "rec_B")),
             "G_BA": (("real_B", "fake_B"), ("fake_A", "rec_A"))}[generator]
    (in1, in2), (out1, out2) = pairs
    if not all(name in preview for name in (in1, in2, out1, out2)):
        return None
    inputs, outputs = (preview[in1], preview[in2]), (preview[out1], preview[out2])
    if inputs[0].shape != inputs[1].shape or outputs[0].shape != outputs[1].shape:
        return None
    input_spread = spread(np.stack(inputs))
    return spread(np.stack(outputs)) / input_spread if input_spread >= MIN_INPUT_SPREAD else None


@torch.no_grad()
def input_dependence(generator: torch.nn.Module, inputs: torch.Tensor) -> float:
    """How much `generator`'s output follows its input: the spread of its outputs across N ≥ 2
    different inputs (N×3×H×W, in [-1, 1]) ÷ the spread of the inputs. About 1 for a translation
    that keeps the scene; near 0 when every input gets the same output (mode collapse)."""
    if inputs.shape[0] < 2:
        raise ValueError("input_dependence needs at least two different inputs")
    parameter = next(generator.parameters(), None)
    device = parameter.device if parameter is not None else inputs.device
    outputs = generator(inputs.to(device)).float().cpu()
    input_spread = float(inputs.float().std(dim=0, unbiased=False).mean())
    if input_spread == 0:
        raise ValueError("input_dependence needs inputs that differ")
    return float(outputs.std(dim=0, unbiased=False).mean()) / input_spread
