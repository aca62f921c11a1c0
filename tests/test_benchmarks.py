"""benchmarks/: every script still imports what it measures (its --help runs)."""

import os
import subprocess
import sys

from conftest import ROOT

SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


def test_there_are_benchmark_scripts():
    assert {p.name for p in SCRIPTS} >= {"translate_speed.py", "train_step_speed.py", "train_convergence.py"}


def test_every_benchmark_script_starts():
    """Each script's --help, all started at once (each imports torch: one at a time took 2 s apiece)."""
    started = {script.name: subprocess.Popen([sys.executable, str(script), "--help"], cwd=ROOT, text=True,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for script in SCRIPTS}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, (name, stderr[-2000:])
        assert stdout.startswith("usage:"), (name, stdout[:200])


def test_the_gpu_check_says_there_is_nothing_to_check_without_a_gpu():
    """benchmarks/gpu_check.py on a CPU-only machine (or with the GPUs hidden): a clear message, exit 0."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no GPU: nothing to check")


def test_the_gpu_checks_run_through_on_the_cpu_so_a_gpus_time_is_not_spent_on_a_bug():
    """The same checks, small, with `--device cpu`: every translation path and precision against the
    CPU's fp32 result, and a stop and resume that continue the losses exactly, in the printed table."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu",
                             "--sizes", "64", "--huge", "0", "--crop", "32", "--steps", "2"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| translate") or line.startswith("| train")]
    assert len(rows) == 9 and all("| ok |" in row for row in rows), rows
    for path in ("whole", "streamed", "tiled", "choice"):
        assert sum(f"64² {path}" in row for row in rows) == 2, path  # in fp32 and in bf16
    assert "resume to 12" in rows[-1] and "resumed 0.00e+00" in rows[-1]
    assert "no GPU figures" in result.stdout and result.stdout.rstrip().endswith("10 passed, 0 failed")
