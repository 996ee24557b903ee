"""Which models a validation compares: the candidate (a run, the deployed model, or a base) and its
baseline (the deployed model if any, else the candidate's base), resolved to a model folder + adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from forge_mcp.core.errors import JudgeError, NotFoundError
from forge_mcp.core.workspace import Workspace
from forge_mcp.deploy.log import current_deployment
from forge_mcp.train.jobs import run_info
from forge_mcp.train.params import ACTIVE, RunPaths
from forge_mcp.train.trigger import resolve_base_model, system_for


class ModelRef(BaseModel):
    """One model the judge runs: a base model folder, optionally with a run's adapter."""

    kind: Literal["run", "deployed", "base"]
    name: str = Field(description="The run id, or the base model's name")
    run_id: str | None = None
    model_path: str
    adapter_path: str | None = None
    dataset_id: str | None = None
    system: str | None = Field(None, description="The system prompt it was trained with (or would be)")


def newest_dataset(ws: Workspace) -> tuple[str, Path]:
    ready = [r for r in ws.store.list_records("datasets") if r["status"] == "ready"]
    if not ready:
        raise NotFoundError("no dataset yet: build one with chunk_data (forge-mcp chunk) first")
    return ready[0]["id"], ws.dataset_dir(ready[0]["id"])


def run_model(ws: Workspace, run_id: str, kind: Literal["run", "deployed"] = "run") -> ModelRef:
    """A completed run as base + adapter; a run still training or one that failed cannot be judged."""
    info = run_info(ws, run_id)  # NotFoundError for an unknown id
    if info.status in ACTIVE:
        raise JudgeError(
            f"run {run_id} is still training (step {info.step}/{info.iters}): validate it when it "
            "completes (training_status), or cancel it"
        )
    if info.status != "completed":
        raise JudgeError(
            f"run {run_id} is {info.status}, not completed: it has no final adapter to validate"
            + (" (resume_training can finish it)" if info.resumable else "")
        )
    paths = RunPaths(ws.run_dir(run_id))
    run = json.loads(paths.run.read_text(encoding="utf-8"))
    return ModelRef(
        kind=kind,
        name=run_id,
        run_id=run_id,
        model_path=run["model_path"],
        adapter_path=str(paths.adapters),
        dataset_id=info.dataset_id,
        system=run.get("system"),
    )


def deployed_model(ws: Workspace) -> ModelRef | None:

    entry = current_deployment(ws)
    if entry is None or not entry.get("run_id"):
        return None
    return run_model(ws, entry["run_id"], kind="deployed")


def base_model(ws: Workspace, name: str, dataset_path: Path) -> ModelRef:

    path = resolve_base_model(ws, name, dataset_path)
    return ModelRef(
        kind="base", name=name, model_path=str(path), dataset_id=dataset_path.name, system=system_for(ws, path)
    )


def candidate_model(ws: Workspace, target: str, base: str) -> ModelRef:
    """`target`: a run id, 'latest' (the newest completed run), 'deployed', or 'base' (the `base` model)."""
    if target == "latest":
        completed = [r for r in ws.store.list_records("runs", limit=200) if r["status"] == "completed"]
        if not completed:
            raise NotFoundError(
                "no completed training run yet: train one (trigger_training) or validate the "
                "base model with target 'base'"
            )
        return run_model(ws, completed[0]["id"])
    if target == "deployed":
        found = deployed_model(ws)
        if found is None:
            raise NotFoundError("nothing is deployed yet: validate a run instead (target 'latest' or a run id)")
        return found
    if target == "base":
        return base_model(ws, base, newest_dataset(ws)[1])
    return run_model(ws, target)


def baseline_model(ws: Workspace, candidate: ModelRef, baseline: str, dataset_path: Path) -> ModelRef | None:
    """`baseline`: 'auto' (the deployed model unless it is the candidate, else the candidate's base),
    'deployed', 'base', 'none', or a run id."""
    if baseline == "none":
        return None
    if baseline in ("auto", "deployed"):
        deployed = deployed_model(ws)
        if deployed is not None and deployed.run_id != candidate.run_id:
            return deployed
        if baseline == "deployed":
            raise NotFoundError("nothing else is deployed to compare with: use baseline 'base' or 'auto'")
    if baseline in ("auto", "base"):
        if candidate.kind == "base":
            return None  # a base model compared with itself says nothing
        return ModelRef(
            kind="base",
            name=Path(candidate.model_path).name,
            model_path=candidate.model_path,
            dataset_id=dataset_path.name,
            system=candidate.system,
        )
    return run_model(ws, baseline)
