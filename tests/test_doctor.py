"""cyclegan_core/doctor.py: each "is it working?" check fires on a constructed failure and stays
quiet on a healthy run; too little evidence (a short log, one preview, a passing moment) fires nothing."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from cyclegan_core import RunFolder
from cyclegan_core.teaching.doctor import (MIN_STEPS, Finding, brightness_correlation, checker_peaks, diagnose, input_dependence,
                                  summary, to_array)
from cyclegan_core.nn.networks import ResnetGenerator, init_weights
from cyclegan_core.training.loop import Preview, StepDone, train
from cyclegan_core.training.config import TrainConfig

SIZE = 64
BLUE, WARM = np.array([0.7, 0.85, 1.1]), np.array([1.1, 0.9, 0.7])


def crop(image: np.ndarray, top: int, left: int, size: int = SIZE) -> np.ndarray:
    return image[top:top + size, left:left + size].astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def scenes():
    """Two unpaired photos (an astronaut, a cup of coffee) and a third (a cat), as floats in [0, 1]."""
    return crop(data.astronaut(), 60, 170), crop(data.coffee(), 100, 150), crop(data.chelsea(), 80, 120)


def pil(array: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8))


def translate(image: np.ndarray, tint: np.ndarray, seed: int) -> np.ndarray:
    """A plausible translation: a colour grade plus the generator's own noise."""
    return image * tint + np.random.default_rng(seed).normal(0, 0.02, image.shape)


def preview(real_a, real_b, seed=0, fake_b=None, fake_a=None, rec_b=None) -> dict[str, Image.Image]:
    """Both cycles of a healthy model, with any image replaced by a broken one."""
    fake_b = translate(real_a, BLUE, seed) if fake_b is None else fake_b
    fake_a = translate(real_b, WARM, seed + 1) if fake_a is None else fake_a
    noise = np.random.default_rng(seed + 2).normal(0, 0.01, real_a.shape)
    return {"real_A": pil(real_a), "fake_B": pil(fake_b), "rec_A": pil(real_a + noise),
            "real_B": pil(real_b), "fake_A": pil(fake_a), "rec_B": pil(real_b + noise if rec_b is None else rec_b)}


def healthy_log(steps: int = 200, seed: int = 0) -> list[dict]:
    """LSGAN losses of a balanced run: D around 0.2, G around 0.35, cycle losses falling; noisy."""
    rng = np.random.default_rng(seed)
    log = []
    for step in range(1, steps + 1):
        typical = {"G_AB": 0.35, "G_BA": 0.35, "cycle_A": 2.0 / (1 + step / 50), "cycle_B": 2.0 / (1 + step / 50),
                   "idt_A": 0.4, "idt_B": 0.4, "D_A": 0.2, "D_B": 0.2}
        log.append({"step": step, **{k: float(v * rng.uniform(0.5, 1.5)) for k, v in typical.items()}, "lr": 2e-4})
    return log


def d_wins_log(steps: int = 200, judge: str = "D_B", generator: str = "G_AB", d_end=0.001, g_end=0.95) -> list[dict]:
    """A healthy log in which `judge` decays towards `d_end` while `generator` rises to `g_end`."""
    log = healthy_log(steps)
    for i, record in enumerate(log):
        progress = i / (steps - 1)
        record[judge] = 0.25 * (d_end / 0.25) ** progress
        record[generator] = 0.3 + (g_end - 0.3) * progress
    return log


def healthy_previews(scenes, count=3):
    real_a, real_b, _ = scenes
    return [preview(real_a, real_b, seed=10 * i) for i in range(count)]


def checks(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.check, f.network) for f in findings]


def test_a_healthy_run_shows_nothing(scenes):
    findings = diagnose(healthy_log(), healthy_previews(scenes))
    assert findings == []
    assert summary(findings, 200) == "No problems found so far (200 steps checked)."


def test_d_wins_fires_when_a_discriminator_collapses_to_zero(scenes):
    findings = diagnose(d_wins_log(), healthy_previews(scenes))
    assert checks(findings) == [("d_wins", "D_B")]
    finding = findings[0]
    assert finding.severity == "warning" and finding.evidence["D_B_loss"] < 0.01 and finding.evidence["G_AB_loss"] > 0.9
    assert any("learning rate" in tip for tip in finding.advice)
    both = d_wins_log(judge="D_A", generator="G_BA")
    both[-30:] = [{**r, "D_B": 0.002, "G_AB": 0.98} for r in both[-30:]]
    assert checks(diagnose(both)) == [("d_wins", "D_B"), ("d_wins", "D_A")]


def test_d_wins_needs_both_sides_and_a_sustained_collapse():
    assert diagnose(d_wins_log(g_end=0.4)) == []  # D is doing well, but G is not losing: not a collapse
    assert diagnose(d_wins_log(d_end=0.2)) == []  # G struggles, D is not near 0
    dip = healthy_log()
    for record in dip[-5:]:  # five lucky steps out of a window of 25
        record.update(D_B=0.0001, G_AB=0.99)
    assert diagnose(dip) == []


def test_d_wins_thresholds_follow_the_gan_loss():
    """Cross-entropy losses sit higher: G's 1.0 is an ordinary value there, 3.0 a lost cause."""
    assert checks(diagnose(d_wins_log(d_end=0.01, g_end=3.0), gan_mode="vanilla")) == [("d_wins", "D_B")]
    assert diagnose(d_wins_log(d_end=0.01, g_end=1.0), gan_mode="vanilla") == []
    assert checks(diagnose(d_wins_log(d_end=0.01, g_end=1.0))) == [("d_wins", "D_B")]  # LSGAN: 1.0 is the maximum


def test_does_nothing_fires_when_the_output_is_the_input(scenes):
    real_a, real_b, _ = scenes
    previews = [preview(real_a, real_b, seed=i, fake_a=real_b) for i in range(3)]  # F(b) = b exactly
    findings = diagnose(healthy_log(), previews)
    assert checks(findings) == [("does_nothing", "G_BA")]
    assert findings[0].evidence["relative_change"] < 0.01 and "λ identity" in " ".join(findings[0].advice)
    nearly = [preview(real_a, real_b, seed=i, fake_b=real_a + 0.004 * (-1) ** i) for i in range(3)]  # ±1 level
    assert checks(diagnose(healthy_log(), nearly)) == [("does_nothing", "G_AB")]


def test_does_nothing_stays_quiet_on_a_subtle_translation(scenes):
    real_a, real_b, _ = scenes
    subtle = [preview(real_a, real_b, seed=i, fake_b=translate(real_a, np.array([0.95, 1.0, 1.08]), i))
              for i in range(3)]
    assert diagnose(healthy_log(), subtle) == []


def test_colour_inversion_fires_on_a_negative(scenes):
    real_a, real_b, _ = scenes
    previews = [preview(real_a, real_b, seed=i, fake_b=translate(1 - real_a, BLUE, i)) for i in range(3)]
    findings = diagnose(healthy_log(), previews)
    assert checks(findings) == [("colour_inversion", "G_AB")]
    assert findings[0].evidence["brightness_correlation"] < -0.9
    assert all(findings[0].evidence[f"correlation_{c}"] < -0.5 for c in "RGB")
    assert "identity" in " ".join(findings[0].advice)


@pytest.mark.parametrize("period", [2, 4])
def test_checkerboard_fires_on_a_periodic_grid(scenes, period):
    real_a, real_b, _ = scenes
    tile = np.random.default_rng(period).normal(0, 1, (period, period, 1))
    grid = np.tile(tile - tile.mean(), (SIZE // period, SIZE // period, 1))
    grid *= 0.03 / np.abs(grid).mean()  # ±8 grey levels on average: visible up close
    previews = [preview(real_a, real_b, seed=i, fake_a=translate(real_b, WARM, i) + grid) for i in range(3)]
    findings = diagnose(healthy_log(), previews)
    assert checks(findings) == [("checkerboard", "G_BA")]
    assert findings[0].evidence["period"] == period and findings[0].evidence["peak_ratio"] > 8
    assert any("resizing" in tip for tip in findings[0].advice)


def test_checkerboard_is_measured_against_the_input(scenes):
    """A grid already in the input (a fence, a fabric) and kept by the translation is no artifact."""
    real_a, real_b, _ = scenes
    grid = (np.indices((SIZE, SIZE)).sum(axis=0) % 2)[..., None] * 0.06 - 0.03  # ±8 grey levels
    previews = [preview(real_a + grid, real_b, seed=i) for i in range(3)]
    assert checker_peaks(to_array(previews[0]["fake_B"]))[2][0] > 8  # the output has the peak …
    assert diagnose(healthy_log(), previews) == []  # … and so does the input


def test_ignores_input_fires_when_every_input_gets_the_same_output(scenes):
    real_a, real_b, cat = scenes
    same = translate(cat, BLUE, 99)  # G makes this cat whatever it is given: G(a) = G(F(b))
    previews = [preview(real_a, real_b, seed=i, fake_b=same, rec_b=same) for i in range(3)]
    findings = diagnose(healthy_log(), previews)
    assert checks(findings) == [("ignores_input", "G_AB")]
    assert findings[0].evidence["dependence"] < 0.05 and "λ cycle" in " ".join(findings[0].advice)


def test_ignores_input_from_a_callers_measurement(scenes):
    assert checks(diagnose(healthy_log(), dependence={"G_BA": 0.02, "G_AB": 0.8})) == [("ignores_input", "G_BA")]
    # previews that show the output following the input outweigh one low number
    assert diagnose(healthy_log(), healthy_previews(scenes), dependence={"G_BA": 0.02}) == []


def test_input_dependence_of_generators():
    torch.manual_seed(0)
    inputs = torch.rand(4, 3, 32, 32) * 2 - 1

    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.image = torch.nn.Parameter(torch.rand(1, 3, 32, 32))

        def forward(self, x):
            return self.image.expand(len(x), -1, -1, -1)

    assert input_dependence(torch.nn.Identity(), inputs) == pytest.approx(1.0)
    assert input_dependence(Constant(), inputs) == 0.0
    assert 0.1 < input_dependence(init_weights(ResnetGenerator(8, 1)), inputs) < 2  # a fresh G follows its input
    with pytest.raises(ValueError, match="at least two"):
        input_dependence(torch.nn.Identity(), inputs[:1])


def test_too_little_evidence_fires_nothing(scenes):
    real_a, real_b, _ = scenes
    broken = [preview(real_a, real_b, seed=i, fake_b=real_a, fake_a=1 - real_b) for i in range(3)]
    assert diagnose(d_wins_log(MIN_STEPS - 1), broken, dependence={"G_AB": 0.0}) == []  # too few steps
    assert summary([], MIN_STEPS - 1) == ("Too early to tell: 49 step(s) so far; the checks start after 50 steps.")
    assert diagnose(healthy_log(), broken[-1:]) == []  # one preview is one moment
    assert diagnose(healthy_log(), broken[:2] + healthy_previews(scenes, 1)) == []  # the latest is fine again
    assert diagnose(healthy_log(), healthy_previews(scenes, 1) + broken) != []  # older ones are forgotten


def as_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, np.float32) / 127.5 - 1).permute(2, 0, 1)


def test_previews_as_tensors_in_the_generators_range(scenes):
    real_a, real_b, _ = scenes
    inverted = [preview(real_a, real_b, seed=i, fake_b=1 - real_a) for i in range(3)]
    previews = [{name: as_tensor(image)[None] for name, image in p.items()} for p in inverted]
    assert checks(diagnose(healthy_log(), previews)) == [("colour_inversion", "G_AB")]
    assert brightness_correlation(to_array(previews[0]["fake_B"][0]), to_array(previews[0]["real_A"])) < -0.99
    one_way = [{"real_A": p["real_A"], "fake_B": p["fake_B"]} for p in previews]  # a caller showing A → B only
    assert checks(diagnose(healthy_log(), one_way)) == [("colour_inversion", "G_AB")]


def test_summary_reads_as_plain_language(scenes):
    findings = diagnose(d_wins_log(), [preview(*scenes[:2], seed=i, fake_a=scenes[1]) for i in range(3)])
    text = summary(findings, 200)
    assert text.startswith("**2 thing(s) to look at** after 200 steps:")
    assert "The discriminator D_B is winning" in text and "G_BA hands back its input almost unchanged" in text
    assert "\n- Lower λ identity" in text


def test_a_real_tiny_run_from_scratch(tmp_path):
    """50 steps of a tiny CycleGAN from scratch: its previews show the transposed convolutions'
    grid (the doctor says so), and nothing else is wrong; previews read back from the run folder
    give the same verdict."""
    rng = np.random.default_rng(0)
    for name, tint in (("a", (1.0, 0.9, 0.8)), ("b", (0.6, 0.8, 1.0))):
        (tmp_path / name).mkdir()
        for i, image in enumerate((data.astronaut(), data.coffee(), data.chelsea())):
            top, left = rng.integers(0, 200, 2)
            pil(crop(image, top, left, 160) * tint).resize((40, 40)).save(tmp_path / name / f"{i}.png")
    config = TrainConfig(steps=MIN_STEPS, preview_every=10, checkpoint_every=1000, ngf=8, n_blocks=1, ndf=8,
                         n_layers_D=2, load_size=40, crop_size=32, precision="fp32", pool_size=4)
    log, previews = [], []
    for event in train(config, tmp_path / "a", tmp_path / "b", tmp_path / "run"):
        if isinstance(event, StepDone):
            log.append({"step": event.step, **event.losses, "lr": event.lr})
        elif isinstance(event, Preview):
            previews.append(event.images)
    findings = diagnose(log, previews)
    assert {f.check for f in findings} == {"checkerboard"}, summary(findings, len(log))
    run = RunFolder(tmp_path / "run")
    stored = run.read_previews()
    assert len(stored) == 3 and set(stored[-1]) == set(previews[-1])
    for name, image in stored[-1].items():
        assert np.abs(np.asarray(image, int) - np.asarray(previews[-1][name], int)).max() <= 1, name
    assert [f.check for f in diagnose(run.read_log(), stored)] == [f.check for f in findings]
