"""Training jobs: start a worker process, one at a time per forge; status, cancel, resume, list.

The job manager owns no training state of its own: the worker writes progress to the store, and
everything here is derived from the store plus whether the worker's process is alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from forge_mcp.core import uris
from forge_mcp.core.errors import JobError
from forge_mcp.core.fsutil import atomic_write_json, atomic_write_text
from forge_mcp.core.workspace import Workspace
from forge_mcp.train.params import ACTIVE, RunPaths, TrainParams

_children: dict[int, subprocess.Popen[bytes]] = {}  # reaped on status checks so none lingers as a zombie


class RunInfo(BaseModel):
    run_id: str
    status: str = Field(description="queued | running | completed | failed | cancelled | diverged")
    method: str
    base_model: str
    dataset_id: str | None
    step: int = Field(description="Last reported step")
    iters: int
    last_train_loss: float | None = None
    last_val_loss: float | None = None
    best_val_loss: float | None = None
    tokens_per_second: float | None = None
    peak_memory_gb: float | None = None
    eta_seconds: float | None = Field(None, description="Estimated time left while running")
    error: str | None = None
    resumable: bool = Field(description="True when `resume_training` can continue it from a checkpoint")
    adapter_path: str | None = Field(None, description="The trained adapter (completed runs)")
    loss_uri: str
    log_path: str
    report_id: str | None = Field(None, description="The latest validation report of the run (forge://reports/{id})")
    validation_passed: bool | None = Field(None, description="Its verdict")
    plan: list[str] = Field(default_factory=list, description="What the budget plan chose and why")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is dead for our purposes
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def run_info(ws: Workspace, run_id: str) -> RunInfo:
    record = ws.store.get_record("runs", run_id)
    data, status = record["data"], record["status"]
    paths = RunPaths(ws.run_dir(run_id))
    if status in ACTIVE and not _alive(data.get("pid")):
        status, data["error"] = "failed", data.get("error") or "the worker process died (killed?); resume continues"
        ws.store.put_record(
            "runs", run_id, status, data, git_commit=record["git_commit"], dataset_id=record["dataset_id"]
        )
    params = TrainParams.model_validate(data["params"])
    step = int(data.get("step", 0))
    eta = None
    if status == "running" and data.get("iterations_per_second"):
        eta = round((params.iters - step) / float(data["iterations_per_second"]), 1)
    return RunInfo(
        run_id=run_id,
        status=status,
        method=params.method,
        base_model=params.base_model,
        dataset_id=record["dataset_id"],
        step=step,
        iters=params.iters,
        last_train_loss=data.get("last_train_loss"),
        last_val_loss=data.get("last_val_loss"),
        best_val_loss=data.get("best_val_loss"),
        tokens_per_second=data.get("tokens_per_second"),
        peak_memory_gb=data.get("peak_memory_gb"),
        eta_seconds=eta,
        error=data.get("error"),
        resumable=status in ("failed", "cancelled") and paths.latest.exists(),
        adapter_path=str(paths.adapters) if status == "completed" else None,
        loss_uri=uris.run_loss(run_id),
        log_path=str(paths.log),
        report_id=(data.get("validation") or {}).get("report_id"),
        validation_passed=(data.get("validation") or {}).get("passed"),
        plan=list((data.get("plan") or {}).get("reasons", [])),
    )


def active_run(ws: Workspace) -> RunInfo | None:
    for record in ws.store.list_records("runs", limit=50):
        if record["status"] in ACTIVE:
            info = run_info(ws, record["id"])
            if info.status in ACTIVE:
                return info
    return None


def start_run(
    ws: Workspace,
    params: TrainParams,
    model_path: Path,
    dataset_path: Path,
    dataset_id: str,
    git_commit: str | None,
    system: str | None = None,
    plan: dict[str, Any] | None = None,
) -> RunInfo:
    """Create the run folder and record, then launch its worker; returns at once."""
    busy = active_run(ws)
    if busy is not None:
        raise JobError(
            f"run {busy.run_id} is already training (step {busy.step}/{busy.iters}); one run at a time "
            "per repository: wait for it (training_status) or cancel it (cancel_training)"
        )
    run_id = time.strftime("run-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    paths = RunPaths(ws.run_dir(run_id))
    paths.root.mkdir(parents=True)
    atomic_write_text(paths.params, params.model_dump_json(indent=2))
    atomic_write_json(
        paths.run,
        {
            "run_id": run_id,
            "store": str(ws.store.path),
            "model_path": str(model_path),
            "dataset_path": str(dataset_path),
            "system": system,
            "plan": plan,
            "config": json.loads(ws.config.to_json()),
        },
    )
    ws.store.put_record(
        "runs",
        run_id,
        "queued",
        {"params": params.model_dump(), "step": 0, "plan": plan},
        git_commit=git_commit,
        dataset_id=dataset_id,
    )
    _launch(ws, run_id, paths, resume=False)
    return run_info(ws, run_id)


def _launch(ws: Workspace, run_id: str, paths: RunPaths, resume: bool) -> None:
    env = dict(os.environ)
    blas = openblas_path()
    if blas and "LD_PRELOAD" not in env:
        env["LD_PRELOAD"] = blas  # about 10x faster MLX training on CPU than its bundled reference BLAS
    # -P: the worker imports the installed forge_mcp, never a package in the caller's working directory
    args = [sys.executable, "-P", "-m", "forge_mcp.train.worker", str(paths.root)] + (["--resume"] if resume else [])
    with open(paths.log, "ab") as log:
        child = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    _children[child.pid] = child
    record = ws.store.get_record("runs", run_id)
    data = record["data"] | {"pid": child.pid, "error": None}
    ws.store.put_record(
        "runs",
        run_id,
        "running" if resume else "queued",
        data,
        git_commit=record["git_commit"],
        dataset_id=record["dataset_id"],
    )


def openblas_path() -> str | None:
    if sys.platform != "linux":
        return None
    for candidate in (
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
    ):
        if Path(candidate).exists():
            return candidate
    return None


def cancel_run(ws: Workspace, run_id: str, timeout: float = 30.0) -> RunInfo:
    """Ask the worker to stop at its next report (it checkpoints first); kill it if it does not."""
    info = run_info(ws, run_id)
    if info.status not in ACTIVE:
        raise JobError(f"run {run_id} is {info.status}, not running: nothing to cancel")
    pid = int(ws.store.get_record("runs", run_id)["data"]["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
        _alive(pid)
    info = run_info(ws, run_id)
    if info.status in ACTIVE or info.status == "failed":
        record = ws.store.get_record("runs", run_id)
        ws.store.put_record(
            "runs",
            run_id,
            "cancelled",
            record["data"] | {"error": "cancelled"},
            git_commit=record["git_commit"],
            dataset_id=record["dataset_id"],
        )
    return run_info(ws, run_id)


def resume_run(ws: Workspace, run_id: str) -> RunInfo:
    info = run_info(ws, run_id)
    if not info.resumable:
        raise JobError(
            f"run {run_id} is {info.status} and cannot be resumed"
            + ("" if info.status in ("failed", "cancelled") else "; only failed or cancelled runs can")
            + (" (it has no checkpoint yet: start a new run)" if info.status in ("failed", "cancelled") else "")
        )
    busy = active_run(ws)
    if busy is not None:
        raise JobError(f"run {busy.run_id} is training; resume {run_id} when it is done")
    _launch(ws, run_id, RunPaths(ws.run_dir(run_id)), resume=True)
    return run_info(ws, run_id)


def list_runs(ws: Workspace, limit: int = 50) -> list[RunInfo]:
    return [run_info(ws, r["id"]) for r in ws.store.list_records("runs", limit=limit)]


def loss_series(ws: Workspace, run_id: str) -> dict[str, Any]:
    ws.store.get_record("runs", run_id)  # NotFoundError for an unknown id
    rows = ws.store.metrics(run_id)
    return {
        "run_id": run_id,
        "train": [
            {
                "step": r["step"],
                "loss": r["loss"],
                "learning_rate": r["learning_rate"],
                "tokens_per_second": r["tokens_per_second"],
                "peak_memory_gb": r["peak_memory_gb"],
            }
            for r in rows
            if r["kind"] == "train"
        ],
        "val": [{"step": r["step"], "loss": r["loss"]} for r in rows if r["kind"] == "val"],
    }
