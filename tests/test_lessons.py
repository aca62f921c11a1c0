"""lessons.py and scripts/record_lessons.py: the recorded lessons show what they claim, the
script regenerates them, and damaged recordings are refused clearly."""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image

from cyclegan_core.errors import CycleGANError
from cyclegan_core.teaching.lessons import (
    LESSONS,
    colour_shift,
    input_dependence,
    load_lesson,
    load_lessons,
    outline_change,
    record_lesson,
)
from cyclegan_core.teaching.synthetic import SYNTHETIC_TASKS
from cyclegan_core.nn.losses import LOSS_NAMES

from conftest import ROOT

SHIPPED = ROOT / "demo" / "lessons"


pytestmark = pytest.mark.usefixtures("one_thread")  # steadier than two threads on a shared 2-core machine


@pytest.fixture(scope="module")
def shipped():
    return load_lessons(SHIPPED)


def pairs(task, n=16):
    return SYNTHETIC_TASKS[task].pairs(n, 32, torch.Generator().manual_seed(0))


# The catalogue and the measurements --------------------------------------------------------


def test_the_catalogue_has_the_four_lessons_each_changing_one_thing():
    assert list(LESSONS) == ["cycle", "identity", "geometry", "little_data"]
    for lesson in LESSONS.values():
        lesson.check()
        assert len(lesson.explanation) > 200 and lesson.title
    cycle, identity = LESSONS["cycle"].variants, LESSONS["identity"].variants
    assert [v.lambda_cycle for v in cycle] == [10.0, 0.0]
    assert [v.lambda_identity for v in identity] == [0.5, 0.0] and {v.lambda_cycle for v in identity} == {10.0}
    assert LESSONS["geometry"].task == "circles_squares"
    assert [v.data_size for v in LESSONS["little_data"].variants] == [None, 2]


def test_input_dependence_is_one_for_a_copy_and_zero_for_a_constant():
    a = pairs("stripes_dots").a
    assert input_dependence(a, a) == pytest.approx(1.0)
    assert input_dependence(a, a[:1].expand_as(a)) == 0.0
    assert input_dependence(a, 0.5 * a) == pytest.approx(0.5)


def test_colour_shift_is_zero_for_the_true_translation_only():
    p = pairs("red_blue")
    assert colour_shift(p.b, p) == 0.0
    assert colour_shift(p.a, p) > 0.3  # red objects where blue ones belong
    assert colour_shift(p.b + 0.2, p) == pytest.approx(0.2, abs=1e-5)


def test_outline_change_tells_circles_from_squares():
    p = pairs("circles_squares", 32)
    assert outline_change(p.a, p) < 0.2  # the input keeps its circles
    assert outline_change(p.b, p) > 0.85  # the true squares fill their corners
    assert outline_change(pairs("red_blue").b, pairs("red_blue")) is None  # same outlines: not defined


# Recording ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_shortened_cycle_lesson_is_regenerated_with_the_same_character(tmp_path, shipped):
    lines = []
    recorded = record_lesson(LESSONS["cycle"], tmp_path, steps=45, seed=0, progress=lines.append)
    assert lines and lines[-1].startswith("cycle: λ_cycle = 0: step 45/45")
    assert sorted(p.name for p in (tmp_path / "cycle").iterdir()) == ["lesson.json", "variant-0.png", "variant-1.png"]
    assert recorded.frames >= 2 and recorded.steps[-1] == 45
    with_cycle, without = (recorded.final(label, "input_dependence") for label in recorded.labels)
    # without the cycle, the output depends less on the input (45 steps, seed 0: 0.13 vs 0.36, AMD Zen 3)
    assert without < with_cycle, recorded.outcome
    assert recorded.shows_effect is True
    assert shipped["cycle"].shows_effect is True  # …as in the recording shipped with the app


def test_the_script_records_a_lesson(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "record_lessons.py"), "--out", str(tmp_path), "--only", "geometry",
         "--steps", "4", "--threads", "1"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "geometry: circles → squares: step 4/4" in result.stdout and "Outline change" in result.stdout
    lesson = load_lesson(tmp_path / "geometry")
    assert lesson.steps == [0, 1, 2, 3, 4] and lesson.spec.steps == 4


# The shipped recordings --------------------------------------------------------------------


def test_the_shipped_lessons_load_in_order_and_play_back(shipped):
    assert list(shipped) == list(LESSONS)
    for lesson in shipped.values():
        assert lesson.spec == LESSONS[lesson.name]  # recorded from the catalogue as it stands
        assert lesson.frames >= 2 and lesson.steps[0] == 0 and lesson.steps[-1] == lesson.spec.steps
        frame = lesson.frame(-1)
        assert frame.step == lesson.spec.steps
        for label in lesson.labels:
            assert set(frame.losses[label]) == set(LOSS_NAMES)
            cycles = frame.previews[label]
            assert len(cycles) == 4 and all(image.size == (32, 32) for c in cycles
                                            for image in (c.real, c.translated, c.reconstructed))
        first, last = lesson.frame(0).previews[lesson.labels[0]][0], frame.previews[lesson.labels[0]][0]
        assert first.real.tobytes() == last.real.tobytes()  # the same inputs throughout
        assert first.translated.tobytes() != last.translated.tobytes()  # …translated as training goes
        curves = lesson.curves(upto_frame=3)
        assert all(len(column) == 4 for columns in curves.values() for column in columns.values())
        assert curves[lesson.labels[0]]["step"] == [float(s) for s in lesson.steps[:4]]
        assert len(lesson.curves()[lesson.labels[0]]["cycle_error"]) == lesson.frames
        assert frame.grid(scale=2).height == len(lesson.labels) * 64 + (len(lesson.labels) - 1) * 2


def test_the_shipped_lessons_show_their_effects(shipped):
    cycle = shipped["cycle"]
    assert cycle.final("λ_cycle = 0", "input_dependence") < 0.5 * cycle.final("λ_cycle = 10", "input_dependence")
    identity = shipped["identity"]
    assert identity.final("λ_identity = 0.5", "colour_shift") < identity.final("λ_identity = 0", "colour_shift")
    little = shipped["little_data"]
    assert little.final("2 images per domain", "input_dependence") < little.final("new images every step",
                                                                                  "input_dependence")
    geometry = shipped["geometry"]
    change = geometry.final("circles → squares", "outline_change")
    assert change < 0.5 < geometry.references["true"]["outline_change"]  # the squares never appear
    for lesson in shipped.values():
        assert lesson.shows_effect in (True, None)
        assert all(label in lesson.outcome for label in lesson.labels)
        assert lesson.outcome.endswith(").")


def test_the_shipped_lessons_fit_in_five_megabytes():
    total = sum(path.stat().st_size for path in SHIPPED.rglob("*") if path.is_file())
    assert total <= 5_000_000, total
    assert len([p for p in SHIPPED.rglob("*") if p.is_file()]) < 20  # sprites, not thousands of files
    assert (SHIPPED / "README.md").is_file()


# Damaged and foreign folders ---------------------------------------------------------------


@pytest.fixture
def copy(tmp_path):
    folder = tmp_path / "lessons" / "identity"
    shutil.copytree(SHIPPED / "identity", folder)
    return folder


def rewrite(folder, change):
    path = folder / "lesson.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "lesson.json").write_text("{\"format\": ", encoding="utf-8"), "not valid JSON"),
    (lambda f: (f / "lesson.json").write_bytes(b"\xff\xfe\x00garbage"), "not valid JSON"),
    (lambda f: (f / "lesson.json").unlink(), "no lesson.json"),
    (lambda f: rewrite(f, lambda d: d.update(format="something-else")), "not a CycleGAN Studio lesson"),
    (lambda f: rewrite(f, lambda d: d.update(format_version=99)), "format version 99"),
    (lambda f: rewrite(f, lambda d: d["frames"][1]["losses"]["λ_identity = 0"].pop("D_A")), "incomplete"),
    (lambda f: rewrite(f, lambda d: d["frames"][2]["metrics"]["λ_identity = 0"].update(colour_shift="x")),
     "finite number"),
    (lambda f: rewrite(f, lambda d: d["frames"].pop()), "expected"),  # the sprites have one frame more
    (lambda f: rewrite(f, lambda d: d["sprites"].update({"λ_identity = 0": "../../elsewhere.png"})),
     "sprite file name"),
    (lambda f: rewrite(f, lambda d: d["lesson"].update(task="zebras")), "unknown task"),
    (lambda f: rewrite(f, lambda d: d["lesson"].pop("variants")), "variants"),
    (lambda f: (f / "variant-1.png").unlink(), "variant-1.png"),
    (lambda f: (f / "variant-1.png").write_bytes(b"not a png"), "variant-1.png"),
    (lambda f: Image.new("RGB", (10, 10)).save(f / "variant-0.png"), "10×10"),
])
def test_a_damaged_lesson_is_a_clear_error(copy, damage, message):
    damage(copy)
    with pytest.raises(CycleGANError, match="not a usable recorded lesson") as error:
        load_lessons(copy.parent)
    assert str(copy) in str(error.value) and message in str(error.value)
    assert "scripts/record_lessons.py" in str(error.value)


def test_a_foreign_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CycleGANError, match="no such folder"):
        load_lessons(tmp_path / "missing")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(CycleGANError, match="photos.*no lesson.json"):
        load_lessons(tmp_path)


def test_two_recordings_of_one_lesson_are_refused(copy):
    shutil.copytree(copy, copy.parent / "identity-again")
    with pytest.raises(CycleGANError, match="more than one recording of the lesson.*identity"):
        load_lessons(copy.parent)
