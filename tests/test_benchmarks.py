"""benchmarks/: every script still imports what it measures (its --help runs)."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


def test_there_are_benchmark_scripts():
    assert {p.name for p in SCRIPTS} >= {"translate_speed.py", "train_step_speed.py", "train_convergence.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_script_starts(script):
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_the_gpu_check_says_there_is_nothing_to_check_without_a_gpu():
    """benchmarks/gpu_check.py on a CPU-only machine (or with the GPUs hidden): a clear message, exit 0."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no GPU: nothing to check")
