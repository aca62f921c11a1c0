"""runtime.py: the precision policy and the CPU thread count."""

import os
import platform
import sys

import pytest
import torch

from cyclegan_core.engine.runtime import configure_threads, resolve_precision, return_free_memory


def test_auto_precision_is_fp32_without_native_bf16(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False, "amx_bf16": False})
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize("cap, native", [("AVX2", False), ("avx512_core", False), ("AVX512_CORE_VNNI", False),
                                         ("AVX512_CORE_BF16", True), ("AVX512_CORE_AMX", True), ("ALL", True)])
def test_a_onednn_isa_cap_below_bf16_means_fp32(monkeypatch, cap, native):
    """oneDNN capped (ONEDNN_MAX_CPU_ISA) below its bf16 instruction sets emulates bf16: fp32 then."""
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")


def test_usable_cpus_respects_a_cgroup_quota(tmp_path):
    from cyclegan_core.engine.runtime import usable_cpus
    affinity = usable_cpus(tmp_path / "missing")  # no cgroup file: the affinity mask
    assert affinity >= 1
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")  # one CPU's worth of time
    assert usable_cpus(quota) == 1
    quota.write_text("max 100000\n")
    assert usable_cpus(quota) == affinity
    quota.write_text("50000 100000\n")  # half a CPU still gets one thread
    assert usable_cpus(quota) == 1



def test_explicit_precisions_are_kept_and_unknown_ones_refused():
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        resolve_precision("int4", torch.device("cpu"))


def test_configure_threads_never_raises_the_count(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("cyclegan_core.engine.runtime.usable_cpus", lambda: 1)
        assert configure_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_cpu_class_names_the_model_and_the_instruction_sets_that_decide_speed(monkeypatch):
    from cyclegan_core.engine.runtime import cpu_class
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("MKL_ENABLE_INSTRUCTIONS", raising=False)
    zen3 = "model name\t: AMD EPYC 7B13 64-Core Processor\nflags\t\t: fpu sse2 avx avx2 fma\n"
    amx = ("model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 "
           "amx_int8 avx512_fp16\n")
    assert cpu_class(zen3) == "AMD EPYC 7B13 64-Core Processor · AVX2"
    assert cpu_class(amx) == ("Intel(R) Xeon(R) Processor · AVX2, AVX-512, AVX512-VNNI, AVX512-BF16, AMX-BF16, "
                              "AMX-INT8, AVX512-FP16")
    assert cpu_class("") == "unknown CPU · no AVX2" and " · " in cpu_class()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # another class's kernels, measured on this machine
    assert cpu_class(amx).endswith("AVX512-FP16 · oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA)")
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")  # and MKL's (the Winograd kernel's matrix products)
    assert cpu_class(amx).endswith("(ONEDNN_MAX_CPU_ISA) · MKL capped at AVX2 (MKL_ENABLE_INSTRUCTIONS)")


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


@pytest.mark.skipif(not sys.platform.startswith("linux") or not platform.libc_ver()[0] == "glibc",
                    reason="malloc_trim is glibc's")
def test_free_heap_memory_goes_back_to_the_system():
    """Blocks freed in the middle of the heap stay resident until trimmed (what window-sized
    temporaries of a streamed translation leave behind)."""
    blocks = [bytearray(b"x" * 100_000) for _ in range(3000)]  # 300 MB of heap blocks, touched
    keep = blocks[-1]  # the heap's top stays in use: plain top-trimming cannot return the rest
    del blocks
    before = _resident_mb()
    return_free_memory()
    assert before - _resident_mb() > 200
    assert len(keep) == 100_000


def test_queued_gpu_work_is_waited_for_only_on_a_gpu(monkeypatch):
    """Progress is reported when the work is done, not when it is queued: a CUDA device is
    synchronised first (so a Cancel stops at once); a CPU has nothing queued."""
    from cyclegan_core.engine.runtime import finish_queued_work
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waited.append(device))
    finish_queued_work(torch.device("cpu"))
    assert waited == []
    finish_queued_work(torch.device("cuda", 1))
    assert waited == [torch.device("cuda", 1)]


@pytest.mark.parametrize("precision, device, fixed, expected", [
    ("fp32", "cuda", True, {"cudnn.allow_tf32": False, "matmul.allow_tf32": False, "cudnn.benchmark": True}),
    ("fp32", "cpu", True, {"cudnn.allow_tf32": False, "matmul.allow_tf32": False}),
    ("bf16", "cuda", True, {"cudnn.benchmark": True}),
    ("bf16", "cuda", False, {}),
    ("auto", "cpu", False, {}),
])
def test_gpu_math_settings(precision, device, fixed, expected):
    """fp32 asked for is fp32 (no TF32); fixed-size work on CUDA lets cuDNN pick its fastest algorithm."""
    from cyclegan_core.engine.runtime import gpu_math_settings
    assert gpu_math_settings(precision, torch.device(device), fixed_shapes=fixed) == expected


def test_no_cudnn_benchmark_when_deterministic_algorithms_are_asked_for(monkeypatch):
    from cyclegan_core.engine.runtime import gpu_math_settings
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    assert gpu_math_settings("bf16", torch.device("cuda"), fixed_shapes=True) == {}


def test_gpu_math_sets_and_restores(monkeypatch):
    from cyclegan_core.engine.runtime import gpu_math
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    with gpu_math("fp32", torch.device("cuda"), fixed_shapes=True):
        assert not torch.backends.cudnn.allow_tf32 and torch.backends.cudnn.benchmark
    assert torch.backends.cudnn.allow_tf32 and not torch.backends.cudnn.benchmark
