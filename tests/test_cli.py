import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli


@pytest.fixture
def photos(photo, tmp_path):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    photo.save(folder / "a.png")
    photo.crop((0, 0, 120, 90)).save(folder / "nested" / "b.jpg", quality=95)
    photo.crop((0, 0, 64, 64)).save(folder / "a.jpg")  # same stem as a.png
    return folder


def test_help_for_each_command(capsys):
    from cyclegan_core.cli import build_parser, main
    commands = re.search(r"\{([a-z,-]+)\}", build_parser().format_usage()).group(1).split(",")
    assert commands == ["convert", "translate", "export", "train", "fetch", "push", "push-zoo"]
    for command in commands:
        with pytest.raises(SystemExit) as exit:
            main([command, "--help"])
        assert exit.value.code == 0 and capsys.readouterr().out.startswith(f"usage: python -m cyclegan_core {command}")
    program = subprocess.run([sys.executable, "-m", "cyclegan_core", "--help"], capture_output=True, text=True,
                             cwd=ROOT, timeout=120)
    assert program.returncode == 0 and program.stdout.startswith("usage:")  # and as a program


def test_train_help_shows_train_configs_own_defaults(capsys):
    from cyclegan_core import TrainConfig
    from cyclegan_core.cli import main
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults = TrainConfig()
    for expected in (f"default {defaults.steps}", f"(default {defaults.crop_size})", f"default {defaults.lr:g}",
                     f"default {defaults.lambda_A:g}", f"default {defaults.preview_every}"):
        assert expected in text


def test_translate_file_to_file(tiny_model, tiny_model_dir, photos, tmp_path):
    out = tmp_path / "out.png"
    result = run_cli("translate", "--model", tiny_model_dir, "--direction", "AtoB", "--precision", "fp32",
                     photos / "a.png", "--out", out)
    assert result.returncode == 0, result.stderr
    expected = tiny_model.translate(photos / "a.png", "AtoB", precision="fp32")
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected))


def test_translate_shows_a_progress_bar_with_time_left(tiny_model_dir, photos, tmp_path, monkeypatch, capsys):
    """`--progress on`: a per-image bar that reaches 100 % and says what is left (normally shown
    only after a second, so quick images stay quiet; the test removes that delay)."""
    from cyclegan_core import cli
    monkeypatch.setattr(cli, "tqdm", lambda *a, **k: cli_tqdm(*a, **{**k, "delay": 0}))
    cli_tqdm = __import__("tqdm").tqdm
    out = tmp_path / "out.png"
    args = ["translate", "--model", str(tiny_model_dir), "--direction", "AtoB", str(photos / "a.png"), "--out", str(out)]
    assert cli.main([*args, "--progress", "on"]) == 0
    err = capsys.readouterr().err
    assert "a.png: 100%" in err and "left" in err and out.exists()
    assert cli.main([*args, "--progress", "off"]) == 0
    assert "%" not in capsys.readouterr().err


def test_translate_with_a_model_of_the_store_by_its_name(tiny_model, photos, tmp_path, offline_sandbox):
    """The name the app lists (weights/my-model) works as --model, as a path does."""
    from cyclegan_core import save_model
    save_model(tiny_model, offline_sandbox / "weights" / "my-model")
    out = tmp_path / "out.png"
    result = run_cli("translate", "--model", "my-model", "--direction", "BtoA", "--precision", "fp32",
                     photos / "a.png", "--out", out)
    assert result.returncode == 0, result.stderr
    expected = tiny_model.translate(photos / "a.png", "BtoA", precision="fp32")
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected))


def test_a_two_way_model_asks_for_a_direction_by_its_domains(tiny_model_dir, photos, tmp_path):
    result = run_cli("translate", "--model", tiny_model_dir, photos / "a.png", "--out", tmp_path / "o.png")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "add --direction AtoB (" in result.stderr and "or --direction BtoA (" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_the_readmes_first_example_works_offline_with_an_empty_store(photo, tmp_path, offline_sandbox):
    """`translate --model vintage photo.jpg --out old.png`: the built-in one-way model, no --direction."""
    photo.crop((0, 0, 96, 64)).save(tmp_path / "photo.jpg", quality=95)
    result = run_cli("translate", "--model", "vintage", tmp_path / "photo.jpg", "--out", tmp_path / "old.png")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "old.png").size == (96, 64) and "wrote" in result.stdout
    assert "vintage" in run_cli("translate", "--help").stdout


def test_translate_folder_skips_junk_with_warnings(tiny_model_dir, photos, tmp_path):
    (photos / "notes.txt").write_text("not an image")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    out = tmp_path / "out"
    result = run_cli("translate", "--model", tiny_model_dir, "--direction", "BtoA", photos, "--out", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a-1.png", "a.png", "b.png"]
    assert Image.open(out / "b.png").size == (120, 90)
    assert "skipped: " in result.stderr and "notes.txt" in result.stderr and "broken.png" in result.stderr
    assert "Traceback" not in result.stderr
    assert "translated 3 image(s)" in result.stdout and "skipped 2" in result.stdout
    assert "orange → apple" in result.stderr  # the progress bar names the direction


def test_several_files_go_to_a_folder(tiny_model_dir, photos, tmp_path):
    result = run_cli("translate", "--model", tiny_model_dir, "--direction", "AtoB",
                     photos / "a.png", photos / "nested" / "b.jpg", "--out", tmp_path / "several")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "several").iterdir()) == ["a.png", "b.png"]


def test_nothing_translated_is_a_failure(tiny_model_dir, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.txt").write_text("hello")
    result = run_cli("translate", "--model", tiny_model_dir, "--direction", "AtoB", junk, "--out", tmp_path / "o")
    assert result.returncode == 1
    assert "translated 0 image(s)" in result.stdout


@pytest.mark.parametrize("content, message", [
    (b"this is not a picture", "not an image file"),
    (None, "truncated or corrupt"),
])
def test_bad_single_input_gives_clear_error(tiny_model_dir, photo, tmp_path, content, message):
    path = tmp_path / ("bad.png" if content else "cut.jpg")
    if content is None:
        photo.save(path, quality=90)
        path.write_bytes(path.read_bytes()[:600])
    else:
        path.write_bytes(content)
    result = run_cli("translate", "--model", tiny_model_dir, "--direction", "AtoB", path, "--out", tmp_path / "o.png")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: {path}: " in result.stderr and message in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_unknown_model_gives_clear_error(photos, tmp_path):
    result = run_cli("translate", "--model", tmp_path / "missing", "--direction", "AtoB", photos / "a.png",
                     "--out", tmp_path / "o.png")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "does not exist" in result.stderr


def test_offline_zoo_model_explains_itself(photos, tmp_path):
    result = run_cli("translate", "--model", "horse2zebra", "--direction", "AtoB", photos / "a.png",
                     "--out", tmp_path / "o.png")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "zoo model 'horse2zebra' is not available" in result.stderr
    assert "python -m cyclegan_core convert horse2zebra.pth zebra2horse.pth" in result.stderr


@pytest.mark.slow
def test_a_one_way_model_through_the_cli(tmp_path, photo, capsys):
    """convert with one file makes a one-way model; translate does A→B and refuses B→A in one clear line;
    the same file for both directions is refused."""
    import torch
    from cyclegan_core.cli import main
    from reference import official_state_dict
    torch.save(official_state_dict(seed=4), tmp_path / "style_monet.pth")
    assert main(["convert", str(tmp_path / "style_monet.pth"), "--out", str(tmp_path / "monet"),
                 "--domains", "photo", "Monet painting"]) == 0
    assert "photo → (one-way) Monet painting" in capsys.readouterr().out
    photo.save(tmp_path / "p.png")
    assert main(["translate", "--model", str(tmp_path / "monet"), str(tmp_path / "p.png"),  # one way: no --direction
                 "--out", str(tmp_path / "out.png")]) == 0
    assert Image.open(tmp_path / "out.png").size == photo.size
    result = run_cli("translate", "--model", tmp_path / "monet", "--direction", "BtoA", tmp_path / "p.png",
                     "--out", tmp_path / "back.png")
    assert result.returncode != 0 and "one-way" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "back.png").exists()
    same = run_cli("convert", tmp_path / "style_monet.pth", tmp_path / "style_monet.pth", "--out", tmp_path / "x")
    assert same.returncode != 0 and "hold the same generator" in same.stderr and not (tmp_path / "x").exists()
