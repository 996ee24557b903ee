"""What machine this is: OS, CPU, memory (cgroup-capped), Apple Silicon or CUDA, OpenBLAS and the MLX backend.

Pure and cheap: no mlx/torch import (mlx is detected through package metadata), a few small files and at most two
bounded subprocesses (sysctl on macOS, nvidia-smi when on PATH).
"""

from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
from typing import Literal

from pydantic import BaseModel, Field

Accelerator = Literal["apple-silicon", "cuda", "cpu"]


class Machine(BaseModel):
    os: str
    arch: str
    cpu: str
    cores: int
    memory_bytes: int = Field(description="Total RAM (unified memory on Apple Silicon), capped by a cgroup limit")
    accelerator: Accelerator
    chip: str | None = Field(None, description="Apple chip (machdep.cpu.brand_string) or CUDA device name")
    gpu_memory_bytes: int | None = Field(None, description="CUDA only")
    openblas: str | None = Field(None, description="Path of an OpenBLAS shared library (Linux), else None")
    mlx_backend: str | None = Field(None, description="metal | cuda | cpu, None when mlx is not installed")


def _run(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _linux_memory() -> int | None:
    m = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    total = int(m.group(1)) * 1024 if m else None
    limit = _read("/sys/fs/cgroup/memory.max").strip()  # a container's limit is what we can use
    return int(limit) if limit.isdigit() and total and int(limit) < total else total


def find_openblas(arch: str | None = None) -> str | None:
    """A Debian/Fedora OpenBLAS library path (the pthread build first), or None."""
    arch = arch or platform.machine()
    lib = f"/usr/lib/{arch}-linux-gnu"
    patterns = [
        f"{lib}/openblas-pthread/libopenblas*.so*",
        f"{lib}/openblas*/libopenblas*.so*",
        f"{lib}/libopenblas*.so*",
        "/usr/lib64/libopenblas*.so*",
        "/usr/lib/libopenblas*.so*",
    ]
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path):
                return path
    return None


def _installed(*names: str) -> bool:
    for name in names:
        try:
            importlib.metadata.version(name)
            return True
        except importlib.metadata.PackageNotFoundError:
            pass
    return False


def _mlx_backend(system: str) -> str | None:
    """From package metadata, never importing mlx: mlx[cuda] pulls mlx-cuda-12/13, mlx[cpu] mlx-cpu."""
    if importlib.util.find_spec("mlx") is None:
        return None
    if _installed("mlx-cuda-13", "mlx-cuda-12", "mlx-cuda"):
        return "cuda"
    if system == "Darwin" or _installed("mlx-metal"):
        return "metal"
    return "cpu"  # mlx-cpu (or an older Linux wheel with the CPU backend built in)


def detect_machine() -> Machine:
    system, arch = platform.system(), platform.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cpu, memory, chip, gpu_mem = platform.processor() or arch, None, None, None
    accel: Accelerator = "cpu"
    if system == "Darwin":
        cpu = _run(["sysctl", "-n", "machdep.cpu.brand_string"]) or cpu
        mem = _run(["sysctl", "-n", "hw.memsize"])
        memory = int(mem) if mem and mem.isdigit() else None
        if arch == "arm64":
            accel, chip = "apple-silicon", cpu
    elif system == "Linux":
        m = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
        cpu, memory = (m.group(1).strip() if m else cpu), _linux_memory()
    if memory is None:
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            memory = 0
    if accel == "cpu" and shutil.which("nvidia-smi"):
        out = _run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"])
        if out and "," in out:
            name, mib = out.splitlines()[0].rsplit(",", 1)
            if mib.strip().isdigit():
                accel, chip, gpu_mem = "cuda", name.strip(), int(mib.strip()) * 1024**2
    return Machine(
        os=system,
        arch=arch,
        cpu=cpu,
        cores=max(cores, 1),
        memory_bytes=memory,
        accelerator=accel,
        chip=chip,
        gpu_memory_bytes=gpu_mem,
        openblas=find_openblas(arch) if system == "Linux" else None,
        mlx_backend=_mlx_backend(system),
    )
