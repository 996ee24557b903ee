"""A cycle's parameters and its record (stage by stage), shared by the runner, its stages and the tools."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from forge_mcp.core.config import CycleConfig
from forge_mcp.core.kinds import Target
from forge_mcp.core.workspace import Workspace

STAGES = ("monitor", "chunk", "index", "train", "validate", "deploy")


class CycleParams(CycleConfig):
    """One cycle's settings: [cycle] in forge.toml (whose defaults they are), then the arguments given. Training
    settings left None are chosen by the budget plan (forge_mcp.train.budget)."""

    force_deploy: bool = Field(False, description="Deploy even when validation fails (the log records it)")
    target: Target = Field("auto", description="Where to deploy; 'auto': [deploy] target")
    trigger: Literal["manual", "auto"] = "manual"

    @classmethod
    def from_config(cls, ws: Workspace, **given: Any) -> CycleParams:
        """[cycle] over the defaults, then the arguments given (None: not given)."""
        return cls(**(ws.config.cycle.model_dump() | {k: v for k, v in given.items() if v is not None}))


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
