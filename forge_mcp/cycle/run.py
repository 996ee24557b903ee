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
from typing import Any

from forge_mcp.core.errors import CycleError, ForgeError
from forge_mcp.core.kinds import Progress
from forge_mcp.core.workspace import Workspace
from forge_mcp.cycle.params import STAGES, CycleParams, CycleResult, Stage
from forge_mcp.cycle.stages import STAGE_FUNCTIONS

_RUNNING: set[str] = set()  # cycle ids running in this process
_LOCK = threading.RLock()  # new_cycle holds it while it reads the cycles (cycle_info takes it too)


def cycle_info(ws: Workspace, cycle_id: str) -> CycleResult:
    record = ws.store.get_record("cycles", cycle_id)
    result = CycleResult.model_validate(record["data"])
    if result.status == "running" and not _alive(record["data"].get("pid"), cycle_id):
        with _LOCK:  # read again: a runner in this process may have saved its final record since the first read
            record = ws.store.get_record("cycles", cycle_id)
            result = CycleResult.model_validate(record["data"])
            if result.status == "running" and not _alive(record["data"].get("pid"), cycle_id):
                result.status = "failed"
                result.error = result.error or "the process running the cycle stopped (killed?)"
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
        # The final record is saved before the cycle stops counting as running, under the lock cycle_info repairs
        # under: a reader in between would otherwise take it for a dead cycle and overwrite it with "failed".
        with _LOCK:
            if result.status == "running":
                result.status = "failed"
            result.seconds = round(time.time() - result.started_at, 2)
            _save(ws, result)
            _RUNNING.discard(result.cycle_id)
