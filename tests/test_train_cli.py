"""`python -m cyclegan_core train`: from folders and from zips, resume, Ctrl-C; the result translates."""

import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from cyclegan_core import RunFolder, load_model
from conftest import ROOT, run_cli

TINY_ARGS = ["--crop-size", "32", "--load-size", "36", "--precision", "fp32", "--preview-every", "2"]


def make_domain(folder, count, tint, seed):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray((rng.integers(0, 256, (40, 44, 3)) * np.array(tint)).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def zipped(folder):
    path = folder.with_suffix(".zip")
    with zipfile.ZipFile(path, "w") as z:
        for f in folder.iterdir():
            z.write(f, f"{folder.name}/{f.name}")
        z.writestr(f"{folder.name}/junk.txt", "not an image")
    return path


@pytest.mark.slow
def test_train_from_folders_then_translate_with_the_run(tmp_path, photo):
    a = make_domain(tmp_path / "a", 3, (1, 0.5, 0.5), 0)
    b = make_domain(tmp_path / "b", 2, (0.5, 0.5, 1), 1)
    run = tmp_path / "run"
    result = run_cli("train", "--data-a", a, "--data-b", b, "--out", run, "--steps", "3", "--domains", "red", "blue",
                 *TINY_ARGS)
    assert result.returncode == 0, result.stderr
    assert "training red ↔ blue" in result.stdout and "A 3 image(s), B 2 image(s)" in result.stdout
    assert "finished at step 3 of 3" in result.stdout
    assert "checkpoint saved at step 3" in result.stdout
    assert load_model(run).config.n_blocks == 6  # the small preset

    photo.save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    result = run_cli("translate", "--model", run, "--direction", "AtoB", tmp_path / "in.png", "--out", out)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == photo.size


@pytest.mark.slow
def test_train_from_zips_reports_skipped_then_resume_extends(tmp_path):
    a = zipped(make_domain(tmp_path / "a", 2, (1, 0.5, 0.5), 0))
    b = zipped(make_domain(tmp_path / "b", 2, (0.5, 0.5, 1), 1))
    run = tmp_path / "run"
    result = run_cli("train", "--data-a", a, "--data-b", b, "--out", run, "--steps", "2", "--preset", "small", *TINY_ARGS)
    assert result.returncode == 0, result.stderr
    assert "skipped a.zip:a/junk.txt: not an image" in result.stderr

    result = run_cli("train", "--resume", run, "--steps", "4")
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout and "step 2 of 4" in result.stdout and "finished at step 4 of 4" in result.stdout
    assert sorted(p.name for p in (run / "previews").iterdir()) == ["step_000001.png", "step_000002.png",
                                                               "step_000003.png", "step_000004.png"]


@pytest.mark.slow
def test_refuses_to_overwrite_a_run_and_explains_missing_arguments(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "something").write_text("precious")
    result = run_cli("train", "--data-a", tmp_path, "--data-b", tmp_path, "--out", tmp_path / "run")
    assert result.returncode == 2 and "is not empty" in result.stderr
    result = run_cli("train", "--data-a", tmp_path)
    assert result.returncode == 2 and "--out are required" in result.stderr


def test_empty_domain_is_a_clear_error(tmp_path):
    a = make_domain(tmp_path / "a", 1, (1, 1, 1), 0)
    (tmp_path / "empty").mkdir()
    result = run_cli("train", "--data-a", a, "--data-b", tmp_path / "empty", "--out", tmp_path / "run", *TINY_ARGS)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: domain B: 0 usable image(s)" in result.stderr


def test_ctrl_c_stops_after_the_step_and_saves(tmp_path):
    a = make_domain(tmp_path / "a", 2, (1, 0.5, 0.5), 0)
    b = make_domain(tmp_path / "b", 2, (0.5, 0.5, 1), 1)
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "cyclegan_core", "train", "--data-a", str(a), "--data-b", str(b),
                                "--out", str(run), "--steps", "100000", *TINY_ARGS], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not RunFolder(run).preview_path(2).is_file():  # step 2's preview: two steps are done
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "stopping after this step" in stderr and "stopped at step" in stdout and "resume with:" in stdout
    assert "Traceback" not in stderr
    assert load_model(run).config.n_blocks == 6 and RunFolder(run).steps_done() >= 2


def test_options_map_onto_train_config_and_the_rest_are_its_defaults():
    from cyclegan_core import TrainConfig
    from cyclegan_core.cli import build_parser, train_config
    args = build_parser().parse_args(["train", "--data-a", "a", "--data-b", "b", "--out", "o", "--crop-size", "64",
                                      "--lambda-cycle", "5", "--domains", "cat", "dog", "--preset", "full"])
    config = train_config(args)
    assert config == TrainConfig(crop_size=64, lambda_A=5.0, lambda_B=5.0, domain_a="cat", domain_b="dog", ngf=64,
                                 n_blocks=9)
    assert config.load_size == 72  # derived from the crop by TrainConfig itself
    args = build_parser().parse_args(["train", "--data-a", "a", "--data-b", "b", "--out", "o"])
    assert train_config(args) == TrainConfig()


@pytest.mark.slow
def test_killed_mid_save_at_any_moment_the_run_still_loads_and_resumes(tmp_path):
    """SIGKILL (no chance to clean up) at several moments of a run that saves after every step:
    each time the model folder loads, the state is readable, the log covers it, and resume goes on."""
    a = make_domain(tmp_path / "a", 2, (1, 0.5, 0.5), 0)
    b = make_domain(tmp_path / "b", 2, (0.5, 0.5, 1), 1)
    run = tmp_path / "run"
    args = ["--crop-size", "32", "--load-size", "36", "--precision", "fp32", "--preview-every", "1000",
            "--checkpoint-every", "1", "--steps", "100000"]
    first = [sys.executable, "-m", "cyclegan_core", "train", "--data-a", str(a), "--data-b", str(b), "--out", str(run),
             *args]
    again = [sys.executable, "-m", "cyclegan_core", "train", "--resume", str(run), "--steps", "100000"]
    kills, done = 0, 0
    for delay in (0.05, 0.17, 0.34, 0.55):
        process = subprocess.Popen(first if kills == 0 else again, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not (run / "training_state.safetensors").is_file() or RunFolder(run).steps_done() <= done:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(delay)  # somewhere inside a later step or its save
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        kills += 1
        folder = RunFolder(run)
        done = folder.steps_done()
        assert load_model(run).config.n_blocks == 6 and done >= 1
        steps = [r["step"] for r in folder.read_log()]
        assert steps[:done] == list(range(1, done + 1))  # the log covers the state (later records are dropped)
    print(f"killed {kills} times; resumed each time; {done} steps kept")
