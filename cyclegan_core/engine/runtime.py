"""Where and how the networks run: the precision policy (fp32, bf16 or fp16) and CPU thread count."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` → bf16 where the hardware runs it natively (faster there, close to fp32 on trained
    generators; see benchmarks/README.md); on a GPU without bf16, fp16 (training then scales its
    losses: `trainer.py`); else fp32. `fp32` is the reference implementation's maths."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16, and oneDNN allowed to use them. Without them oneDNN emulates bf16,
    which is slower than fp32 (benchmarks/README.md). `ONEDNN_MAX_CPU_ISA` (oneDNN's own cap on the
    instruction sets it uses, e.g. AVX2 or AVX512_CORE) below AVX512_CORE_BF16 rules them out."""
    capabilities = torch.cpu.get_capabilities()
    if not (capabilities.get("avx512_bf16") or capabilities.get("amx_bf16")):
        return False
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "ALL")).upper()
    return cap == "ALL" or cap.startswith(("AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX10"))


ISA_FEATURES = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_vnni", "AVX512-VNNI"), ("avx_vnni", "AVX-VNNI"),
                ("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX-BF16"), ("amx_int8", "AMX-INT8"),
                ("avx512_fp16", "AVX512-FP16"))


def cpu_class(cpuinfo: str | None = None) -> str:
    """The CPU's model name and the instruction sets that decide speed here, e.g. "AMD EPYC 7B13 ·
    AVX2" or "Intel Xeon … · AVX2, AVX-512, AVX512-VNNI, AVX512-BF16, AMX-BF16, AMX-INT8" (from
    /proc/cpuinfo; `cpuinfo` for tests), and oneDNN's instruction-set cap if one is set (a way to
    measure another class's kernels on this machine). Every speed figure should name it."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    name, flags = "unknown CPU", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == "unknown CPU":
            name = " ".join(value.split())
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    features = [label for flag, label in ISA_FEATURES if flag in flags]
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    capped = f" · oneDNN capped at {cap} (ONEDNN_MAX_CPU_ISA)" if cap and cap.upper() != "ALL" else ""
    mkl = os.environ.get("MKL_ENABLE_INSTRUCTIONS")  # MKL's cap: its matrix products run the Winograd kernel
    capped += f" · MKL capped at {mkl} (MKL_ENABLE_INSTRUCTIONS)" if mkl else ""
    return f"{name} · {', '.join(features) or 'no AVX2'}{capped}"


def autocast(precision: str, device: torch.device):
    """bf16 or fp16 autocast for "bf16" / "fp16", nothing for "fp32" (a resolved precision, not "auto")."""
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext()


def gpu_math_settings(precision: str, device: torch.device, fixed_shapes: bool = False) -> dict[str, bool]:
    """The backend settings a piece of work needs, apart from torch's defaults: "fp32" asked for is
    IEEE fp32, the reference's maths, so no TF32 (cuDNN runs fp32 convolutions in TF32 by default on
    Ampere and later: about 10 bits of mantissa); work whose shapes never change (training crops)
    on CUDA lets cuDNN time its algorithms once per shape and keep the fastest (`cudnn.benchmark`),
    unless deterministic algorithms were asked for (`torch.use_deterministic_algorithms`: timing may
    pick another algorithm in another run, with other rounding). Neither changes anything on a CPU."""
    settings = {}
    if precision == "fp32":
        settings.update({"cudnn.allow_tf32": False, "matmul.allow_tf32": False})
    if fixed_shapes and device.type == "cuda" and not torch.are_deterministic_algorithms_enabled():
        settings["cudnn.benchmark"] = True
    return settings


_SETTINGS = {"cudnn.allow_tf32": (torch.backends.cudnn, "allow_tf32"),
             "matmul.allow_tf32": (torch.backends.cuda.matmul, "allow_tf32"),
             "cudnn.benchmark": (torch.backends.cudnn, "benchmark")}


@contextlib.contextmanager
def gpu_math(precision: str, device: torch.device, fixed_shapes: bool = False):
    """`gpu_math_settings` in force while inside, the previous values restored after (they are
    process-wide: the app's other work keeps its own)."""
    settings = gpu_math_settings(precision, device, fixed_shapes)
    before = {name: getattr(*_SETTINGS[name]) for name in settings}
    try:
        for name, value in settings.items():
            setattr(*_SETTINGS[name], value)
        yield
    finally:
        for name, value in before.items():
            setattr(*_SETTINGS[name], value)


def finish_queued_work(device: torch.device) -> None:
    """Wait for the work queued on a CUDA device (kernels run asynchronously); nothing on a CPU.
    Progress is reported after this, so the bar follows work done, not work queued, and a Cancel
    raised from the callback leaves nothing queued behind it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def usable_cpus(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may really use: its affinity, further limited by a cgroup CPU quota
    (containers such as Hugging Face Spaces often see the host's cores but may use only two)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def configure_threads() -> int:
    """Use no more intra-op threads than usable CPUs (more only contend); returns the count."""
    threads = min(torch.get_num_threads(), usable_cpus())
    torch.set_num_threads(threads)
    return threads


@functools.cache
def _openmp_library():
    """The OpenMP runtime torch runs on (its bundled libgomp), or None where it cannot be found."""
    import ctypes
    for candidate in (Path(torch.__file__).parent / "lib" / "libgomp.so.1", "libgomp.so.1"):
        try:
            return ctypes.CDLL(str(candidate))
        except OSError:
            continue
    return None


@functools.cache
def _c_library():
    """The C library (glibc on Linux), or None where there is none to load."""
    import ctypes
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def return_free_memory() -> None:
    """Give memory the heap holds but no longer uses back to the operating system (glibc's
    `malloc_trim`; elsewhere nothing). Freed window-sized temporaries (a few MB to tens of MB)
    otherwise stay in the heap as holes: a sizeable part of the resident memory during a 4096²
    streamed translation. A call is cheap next to a pass over a large image, not next to a small
    translation (benchmarks/README.md)."""
    library = _c_library()
    trim = getattr(library, "malloc_trim", None) if library is not None else None
    if trim is not None:
        trim(0)


def set_thread_team(threads: int) -> None:
    """This Python thread's intra-op team size, without touching other threads' (`torch.set_num_threads`
    is process-wide). OpenMP's `omp_set_num_threads` is per thread; oneDNN and MKL's matrix products
    (the Winograd kernel) take their team from it."""
    library = _openmp_library()
    if library is None:
        torch.set_num_threads(threads)
    else:
        torch.get_num_threads()  # torch sets up a thread's team on first use; after that, ours stands
        library.omp_set_num_threads(int(threads))


class CoreShare:
    """The usable CPUs shared between jobs in one process (a training run, translations).

    Each job runs inside `job()`; at its safe points (a training step, a translation's start) it
    calls `fit()`, which sizes that thread's team to its share: all CPUs alone, an equal part with
    others. Without this, two jobs each running a full team on two cores spin against each other:
    in two processes, a small training step took many times as long (benchmarks/README.md, where
    `benchmarks/share_cores.py` measures the in-process case)."""

    def __init__(self, cpus: int | None = None):
        self.cpus = cpus or usable_cpus()
        self._lock = threading.Lock()
        self.active = 0

    @contextlib.contextmanager
    def job(self):
        """One job, run in the calling thread: its team is fitted now and restored afterwards."""
        before = torch.get_num_threads()
        with self._lock:
            self.active += 1
        try:
            self.fit()
            yield self
        finally:
            with self._lock:
                self.active -= 1
            set_thread_team(before)

    def iterate(self, events: Iterator):
        """`events` (e.g. `train(...)`, one step per item) as a job: each item is computed after
        `fit()` in the thread that asks for it (a UI may ask from a different thread each time)."""
        with self.job():
            while True:
                self.fit()
                try:
                    event = next(events)
                except StopIteration:
                    return
                yield event

    def share(self) -> int:
        """Threads each running job gets now."""
        return max(1, self.cpus // max(1, self.active))

    def fit(self) -> int:
        """Size the calling thread's team to its current share; returns it."""
        threads = self.share()
        set_thread_team(threads)
        return threads
