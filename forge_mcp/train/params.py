"""A training run's parameters and folder layout (shared by the job manager and the worker process)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from forge_mcp.core.config import CycleConfig
from forge_mcp.core.kinds import Method, Task
from forge_mcp.train.methods import AdapterSpec

RunStatus = Literal["queued", "running", "completed", "failed", "cancelled", "diverged"]
ACTIVE = ("queued", "running")
# Settings [cycle] also declares take their defaults from there: a default changes in one line.
_CYCLE = CycleConfig.model_fields


class TrainParams(BaseModel):
    """Everything a run needs; saved as params.json in the run folder (the resolved config of the run)."""

    model_config = ConfigDict(extra="forbid")

    method: Method = _CYCLE["method"].default
    base_model: str = Field(
        _CYCLE["base_model"].default,
        description="'smollm2-135m', 'gguf:PATH', 'ollama:NAME[:TAG]', a local "
        "mlx-lm model folder, a Hugging Face repo id, or 'tiny' (tests)",
    )
    dataset_id: str | None = Field(None, description="Dataset to train on (default: the newest one)")
    task: Task = _CYCLE["task"].default
    iters: int = Field(200, ge=1, le=1_000_000)
    batch_size: int = Field(_CYCLE["batch_size"].default, ge=1, le=1024)
    learning_rate: float = Field(1e-4, gt=0)
    warmup: int = Field(0, ge=0, description="Linear warm-up steps before the cosine decay")
    rank: int = Field(8, ge=1, le=1024)
    alpha: float = Field(16.0, gt=0)
    rora: bool = Field(False, description="RoRA/rsLoRA scaling alpha/sqrt(r) instead of alpha/r")
    dropout: float = Field(0.0, ge=0, lt=1)
    num_layers: int = Field(-1, ge=-1, description="Adapted blocks from the top; -1 = all")
    max_seq_length: int = Field(512, ge=16, le=131_072)
    steps_per_report: int = Field(10, ge=1)
    steps_per_eval: int = Field(50, ge=1)
    val_batches: int = Field(8, ge=-1)
    grad_checkpoint: bool = False
    grad_accumulation: int = Field(1, ge=1, le=1024)
    divergence_factor: float = Field(
        4.0, gt=1, description="Halt when a train loss exceeds this multiple of the moving average of the last reports"
    )
    seed: int = 0
    compile: bool = Field(
        _CYCLE["compile"].default, description="mx.compile the step (on CPU the first compile takes ~25 s)"
    )

    def adapter_spec(self) -> AdapterSpec:
        return AdapterSpec(
            method=self.method,
            rank=self.rank,
            alpha=self.alpha,
            rora=self.rora,
            dropout=self.dropout,
            num_layers=self.num_layers,
        )


class RunPaths:
    """<state>/runs/<run_id>/: params.json, run.json, worker.log, adapters/, best/, checkpoints/."""

    def __init__(self, run_dir: Path) -> None:
        self.root = run_dir
        self.params = run_dir / "params.json"
        self.run = run_dir / "run.json"  # store path, model and dataset folders resolved by the job manager
        self.log = run_dir / "worker.log"
        self.adapters = run_dir / "adapters"
        self.best = run_dir / "best"
        self.checkpoints = run_dir / "checkpoints"
        self.latest = self.checkpoints / "LATEST"
        self.loss_png = run_dir / "loss.png"
