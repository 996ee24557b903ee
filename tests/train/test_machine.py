"""Detecting the machine: memory, cores, accelerator, OpenBLAS and the MLX backend, on this host."""

from __future__ import annotations

import os

from forge_mcp.train.hardware import GIB
from forge_mcp.train.machine import Machine, detect_machine, find_openblas


def test_detect_machine_on_this_host() -> None:
    m = detect_machine()
    assert m.memory_bytes > GIB and m.cores >= 1 and m.os and m.arch and m.cpu
    assert m.accelerator == "cpu" and m.chip is None and m.gpu_memory_bytes is None
    assert m.mlx_backend == "cpu"  # mlx[cpu] is installed in the dev environment
    assert m.openblas == find_openblas()
    if m.openblas is not None:
        assert os.path.isfile(m.openblas) and "openblas" in m.openblas
    else:
        assert not os.path.exists("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0")
    Machine.model_validate_json(m.model_dump_json())  # serialisable for MCP tools


def test_openblas_is_only_a_library_that_exists() -> None:
    for found in (find_openblas(), find_openblas("no-such-arch")):  # an unknown arch: only the generic folders
        assert found is None or (os.path.isfile(found) and "openblas" in os.path.basename(found))
