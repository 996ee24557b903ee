"""The whole loop as one call: monitor -> chunk -> index -> train -> validate -> deploy.

Each stage is the same function a tool or CLI command calls. The cycle is recorded in the store stage by
stage (so `forge://cycles/{id}` can be followed live), waits behind a training run already going, and
deploys only a run that passed validation unless the caller forces it.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from forge_mcp.core.errors import CycleError, ForgeError
from forge_mcp.core.kinds import Method, Progress, Target, Task
from forge_mcp.core.workspace import Workspace

STAGES = ("monitor", "chunk", "index", "train", "validate", "deploy")
_RUNNING: set[str] = set()  # cycle ids running in this process
_LOCK = threading.Lock()


class CycleParams(BaseModel):
    """The cycle's settings: [cycle] in forge.toml, then arguments. Training settings left None are chosen
    by the budget plan (forge_mcp.train.budget)."""

    base_model: str
    method: Method
    task: Task
    iters: int | None = Field(None, ge=1)
    batch_size: int = Field(4, ge=1)
    learning_rate: float | None = Field(None, gt=0)
    num_layers: int | None = Field(None, ge=-1)
    max_seq_length: int | None = Field(None, ge=16)
    compile: bool = True
    index: bool = True
    adapt_embedder: bool = True
    deploy: bool = True
    force_deploy: bool = Field(False, description="Deploy even when validation fails (the log records it)")
    target: Target = "auto"
    trigger: Literal["manual", "auto"] = "manual"

    @classmethod
    def from_config(cls, ws: Workspace, **overrides: Any) -> CycleParams:
        cfg = ws.config.cycle.model_dump(exclude={"auto", "budget_minutes"})
        return cls(**(cfg | {k: v for k, v in overrides.items() if v is not None}))


class Stage(BaseModel):
    name: str
    status: Literal["pending", "running", "done", "skipped", "failed"] = "pending"
    seconds: float = 0.0
    summary: str = ""


class CycleResult(BaseModel):
    cycle_id: str
    repo: str
    status: Literal["running", "completed", "failed"]
    trigger: str
    started_at: float
    seconds: float = 0.0
    stages: list[Stage]
    dataset_id: str | None = None
    run_id: str | None = None
    loss_uri: str | None = None
    loss_png: str | None = Field(None, description="The run's loss curve, as a file")
    plan: list[str] = Field(
        default_factory=list, description="What the budget plan chose for training and validation, and why"
    )
    budget: dict[str, Any] | None = Field(
        None, description="The plan's profile: steps, layers, sequence length, validation size, expected tokens/s"
    )
    report_id: str | None = None
    report_uri: str | None = None
    report_path: str | None = None
    passed: bool | None = None
    deployment_id: int | None = None
    deployed_model: str | None = None
    deployed_url: str | None = None
    error: str | None = None


def cycle_info(ws: Workspace, cycle_id: str) -> CycleResult:
    record = ws.store.get_record("cycles", cycle_id)
    result = CycleResult.model_validate(record["data"])
    if result.status == "running" and not _alive(record["data"].get("pid"), cycle_id):
        result.status, result.error = "failed", result.error or "the process running the cycle stopped (killed?)"
        _save(ws, result)
    return result


def list_cycles(ws: Workspace, limit: int = 50) -> list[CycleResult]:
    return [cycle_info(ws, r["id"]) for r in ws.store.list_records("cycles", limit=limit)]


def active_cycle(ws: Workspace) -> CycleResult | None:
    return next((c for c in list_cycles(ws, limit=20) if c.status == "running"), None)


def _alive(pid: int | None, cycle_id: str) -> bool:
    if pid == os.getpid():
        return cycle_id in _RUNNING
    try:
        os.kill(int(pid or 0), 0)
        return bool(pid)
    except OSError:
        return False


def _save(ws: Workspace, result: CycleResult) -> None:
    ws.store.put_record("cycles", result.cycle_id, result.status, result.model_dump() | {"pid": os.getpid()})


def new_cycle(ws: Workspace, params: CycleParams) -> CycleResult:
    """Record a new cycle (refused while another runs for the repository)."""
    with _LOCK:
        busy = active_cycle(ws)
        if busy is not None:
            raise CycleError(
                f"cycle {busy.cycle_id} is already running for {ws.name} (stage "
                f"{next((s.name for s in busy.stages if s.status == 'running'), '?')}); one at a time"
            )
        result = CycleResult(
            cycle_id=time.strftime("cycle-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6],
            repo=ws.name,
            status="running",
            trigger=params.trigger,
            started_at=time.time(),
            stages=[Stage(name=n) for n in STAGES],
        )
        _RUNNING.add(result.cycle_id)
        _save(ws, result)
    return result


def run_cycle(
    ws: Workspace,
    params: CycleParams,
    progress: Progress | None = None,
    rag: Any = None,
    result: CycleResult | None = None,
) -> CycleResult:
    """Run every stage; returns the finished record (status failed with the error if a stage failed)."""
    from forge_mcp.cycle.stages import STAGE_FUNCTIONS

    result = result or new_cycle(ws, params)
    report = progress or (lambda done, total, message: None)
    total = 100 * len(STAGES)
    try:
        for i, stage in enumerate(result.stages):

            def within(done: int, of: int, message: str, i: int = i, name: str = stage.name) -> None:
                report(100 * i + (100 * done // max(of, 1)), total, f"{name}: {message}")

            stage.status = "running"
            _save(ws, result)
            started = time.perf_counter()
            try:
                stage.status, stage.summary = STAGE_FUNCTIONS[stage.name](ws, params, result, within, rag)
            except Exception as exc:  # recorded on the cycle, where its readers look; then re-raised if not ours
                stage.status, stage.summary = "failed", str(exc)
                result.status, result.error = "failed", f"{stage.name}: {exc}"
                if not isinstance(exc, ForgeError):
                    raise
                return result
            finally:
                stage.seconds = round(time.perf_counter() - started, 2)
                result.seconds = round(time.time() - result.started_at, 2)
                _save(ws, result)
            report(100 * (i + 1), total, f"{stage.name}: {stage.summary}")
        result.status = "completed"
        return result
    finally:
        _RUNNING.discard(result.cycle_id)
        if result.status == "running":
            result.status = "failed"
        result.seconds = round(time.time() - result.started_at, 2)
        _save(ws, result)
