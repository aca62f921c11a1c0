"""The same input gives the same pixels on one machine: through the CLI and the Python API, in two
processes, one of them beside a CPU hog (the kernel choice follows the CPU's capabilities, never a
timing), and within one level at any thread count (matrix libraries split sums by thread)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_core import CycleGAN, ModelConfig, load_model, save_model
from cyclegan_core.engine.kernels import choice
from conftest import ROOT

HOG = textwrap.dedent("""
    import torch
    torch.set_num_threads(2)
    a = torch.randn(768, 768)
    while True:
        a = torch.tanh(a @ a)
""")


@pytest.fixture
def model_and_picture(tmp_path):
    torch.manual_seed(3)
    save_model(CycleGAN(ModelConfig(ngf=8, n_blocks=2)), tmp_path / "model")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (136, 200, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    return tmp_path / "model", tmp_path / "in.png"


@pytest.mark.slow
def test_the_cli_beside_a_cpu_hog_and_the_api_give_identical_pixels(model_and_picture, tmp_path):
    model, picture = model_and_picture
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "HF_HUB_DISABLE_TELEMETRY": "1", "CYCLEGAN_WEIGHTS_DIR": str(tmp_path / "weights")}
    hog = subprocess.Popen([sys.executable, "-c", HOG], env=env)
    try:
        subprocess.run([sys.executable, "-m", "cyclegan_core", "translate", str(picture), "--model", str(model),
                        "--direction", "AtoB", "--out", str(tmp_path / "cli.png"), "--device", "cpu",
                        "--precision", "fp32", "--progress", "off"], env=env, check=True, cwd=ROOT, timeout=300)
        assert hog.poll() is None  # the hog ran the whole time
    finally:
        hog.kill()
        hog.wait()
    api = ("from cyclegan_core import load; "
           f"load({str(model)!r}, device='cpu').translate({str(picture)!r}, 'AtoB', precision='fp32')"
           f".save({str(tmp_path / 'api.png')!r})")
    subprocess.run([sys.executable, "-c", api], env=env, check=True, cwd=ROOT, timeout=300)
    cli, api = (np.asarray(Image.open(tmp_path / name)) for name in ("cli.png", "api.png"))
    assert cli.shape == (136, 200, 3) and np.array_equal(cli, api)


def test_any_thread_count_gives_the_same_pixels_within_one_level(model_and_picture):
    model, picture = model_and_picture
    generator = load_model(model, "cpu")
    threads = torch.get_num_threads()
    try:
        results = []
        for count in (1, 2):
            torch.set_num_threads(count)
            results.append(np.asarray(generator.translate(picture, "AtoB", precision="fp32")).astype(int))
    finally:
        torch.set_num_threads(threads)
    assert np.abs(results[0] - results[1]).max() <= 1


def test_the_kernel_follows_the_cpus_capabilities(monkeypatch):
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "auto")
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_f": False})
    assert choice.conv_kernel() == choice.conv_kernel(pixels=64 * 64) == "winograd"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": False})  # an Arm or older x86 CPU
    assert choice.conv_kernel(pixels=4096 * 4096) == "onednn"
    assert choice.conv_kernel(torch.device("cuda")) == "onednn"  # GPUs: the framework's own kernels
