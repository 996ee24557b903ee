"""MCP tools and resources for training runs (thin wrappers over forge_mcp.train)."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from forge_mcp.core import uris
from forge_mcp.core.errors import NotFoundError, quoted
from forge_mcp.core.kinds import Method, Task
from forge_mcp.server.services import Forge
from forge_mcp.server.tools import RepoArg, across_repos, forge_tool, tool_annotations, tool_errors
from forge_mcp.train.hardware import PlanRecommendation, recommend
from forge_mcp.train.jobs import RunInfo, cancel_run, list_runs, loss_series, resume_run, run_info
from forge_mcp.train.machine import detect_machine
from forge_mcp.train.model_places import confine_model_path, model_path_of
from forge_mcp.train.params import TrainParams
from forge_mcp.train.plots import loss_png
from forge_mcp.train.trigger import model_shape, plan_run, trigger_planned

log = logging.getLogger(__name__)


def register_training(server: MCPServer, forge: Forge) -> None:
    @forge_tool(server, tool_annotations("Start a fine-tuning run", read_only=False, idempotent=False))
    async def trigger_training(
        method: Annotated[
            Method | None,
            Field(description="lora (default), dora, qlora (4-bit base), pissa (SVD init), qpissa"),
        ] = None,
        base_model: Annotated[
            str | None,
            Field(
                max_length=4096,
                description="'smollm2-135m' (default: shipped, offline), "
                "'gguf:PATH', 'ollama:NAME[:TAG]', a local mlx-lm model "
                "folder, a Hugging Face id, or 'tiny' (tests)",
            ),
        ] = None,
        dataset_id: Annotated[str | None, Field(description="Dataset from chunk_data (default: the newest)")] = None,
        task: Annotated[
            Task | None,
            Field(description="Which dataset task (default completion)"),
        ] = None,
        iters: Annotated[
            int | None, Field(ge=1, le=1_000_000, description="Steps (default: the budget plan's)")
        ] = None,
        batch_size: Annotated[int | None, Field(ge=1, le=1024)] = None,
        learning_rate: Annotated[float | None, Field(gt=0, description="Default: the budget plan's")] = None,
        num_layers: Annotated[
            int | None,
            Field(ge=-1, description="Blocks from the top with adapters, -1 all (default: the budget plan's)"),
        ] = None,
        rank: Annotated[int | None, Field(ge=1, le=1024)] = None,
        alpha: Annotated[
            float | None, Field(gt=0, description="Adapter scale numerator: alpha/r (or alpha/sqrt(r) with rora)")
        ] = None,
        rora: Annotated[bool | None, Field(description="RoRA/rsLoRA scaling alpha/sqrt(r)")] = None,
        max_seq_length: Annotated[
            int | None, Field(ge=16, le=131_072, description="Default: from the data, capped by the plan")
        ] = None,
        grad_checkpoint: bool | None = None,
        grad_accumulation: Annotated[int | None, Field(ge=1, le=1024)] = None,
        repo: RepoArg = None,
    ) -> RunInfo:
        """Start fine-tuning a base model on the repository's dataset; returns the run at once.

        The run trains in a separate worker process (mlx-lm), one at a time per repository (a second
        request is refused while one runs). Follow it with `training_status` or the resources
        `forge://runs/{run_id}/loss` (JSON) and `forge://runs/{run_id}/loss.png`, which update as it goes.
        It checkpoints at every report, keeps the best adapter by validation loss, and halts itself if
        the loss diverges. Build a dataset with `chunk_data` first. Settings not given come from
        forge.toml [cycle], then from the budget plan, which on a CPU-only machine fits steps, adapted
        blocks and sequence length into [cycle] budget_minutes; `plan` in the result says what it chose.
        """
        given = {
            "method": method,
            "base_model": base_model,
            "dataset_id": dataset_id,
            "task": task,
            "iters": iters,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "num_layers": num_layers,
            "rank": rank,
            "alpha": alpha,
            "rora": rora,
            "max_seq_length": max_seq_length,
            "grad_checkpoint": grad_checkpoint,
            "grad_accumulation": grad_accumulation,
        }
        with tool_errors():
            ws = forge.workspace(repo)
            return (await anyio.to_thread.run_sync(lambda: trigger_planned(ws, given)))[0]

    @forge_tool(server, tool_annotations("Plan a training run for this machine", read_only=True))
    def plan_training(
        base_model: Annotated[
            str | None,
            Field(
                max_length=4096,
                description="'smollm2-135m', a local model folder, or a known hub id "
                "(e.g. mlx-community/Qwen2.5-Coder-7B-Instruct-4bit); default: [cycle] base_model",
            ),
        ] = None,
        method: Annotated[
            Method | None,
            Field(description="Force a method (default: chosen to fit)"),
        ] = None,
        max_seq_length: Annotated[int | None, Field(ge=16, le=131_072, description="Force a sequence length")] = None,
        repo: RepoArg = None,
    ) -> PlanRecommendation:
        """Detect this machine (Apple Silicon and unified memory, CUDA, CPU and OpenBLAS) and recommend the
        method, batch size, rank and sequence length that fit under 85% of its memory for a base model,
        with the estimated peak memory broken down (weights, adapters, optimizer, activations). When the
        repository has a dataset, `budget` is the time-budget profile `trigger_training` would use: steps,
        adapted blocks, sequence length, validation size, expected tokens/s, and why. Use the figures as
        `trigger_training` arguments; a configuration that does not fit is refused there."""
        with tool_errors():
            ws = forge.workspace(repo)
            base_model = base_model or ws.config.cycle.base_model
            path = model_path_of(ws, base_model)
            if path is not None:
                confine_model_path(ws, path, base_model)
            shape = model_shape(TrainParams(base_model=base_model), path if path and path.is_dir() else None)
            if shape is None:
                raise NotFoundError(
                    f"unknown architecture for {quoted(base_model)}: pass a local model folder, or one of "
                    "the known hub ids (see forge-mcp's hardware plan)"
                )
            plan = recommend(shape, detect_machine(), method=method, seq_len=max_seq_length)
            plan.budget = _budget(forge, repo, base_model)
            return plan

    @forge_tool(server, tool_annotations("Training run status", read_only=True))
    def training_status(
        run_id: Annotated[str | None, Field(description="Run id (default: the newest run of the repository)")] = None,
        repo: RepoArg = None,
    ) -> RunInfo:
        """Live figures of a run: status, step of iters, last train/val loss, best val loss, tokens/s,
        peak memory, ETA, and whether a stopped run can be resumed (and its error if it failed)."""
        with tool_errors():
            if run_id:
                return run_info(forge.workspace_of_run(run_id), run_id)
            runs = list_runs(forge.workspace(repo), limit=1)
            if not runs:
                raise NotFoundError("no training run yet: start one with trigger_training")
            return runs[0]

    @forge_tool(server, tool_annotations("Cancel a training run", read_only=False, idempotent=False))
    def cancel_training(run_id: Annotated[str, Field(description="The run to stop")]) -> RunInfo:
        """Stop a running training run; it checkpoints first, so `resume_training` can continue it."""
        with tool_errors():
            return cancel_run(forge.workspace_of_run(run_id), run_id)

    @forge_tool(server, tool_annotations("Resume a stopped training run", read_only=False, idempotent=False))
    def resume_training(run_id: Annotated[str, Field(description="A failed (killed) or cancelled run")]) -> RunInfo:
        """Continue a killed or cancelled run from its last checkpoint: same step, learning-rate schedule
        and optimizer state."""
        with tool_errors():
            return resume_run(forge.workspace_of_run(run_id), run_id)

    @server.resource(
        uris.RUNS,
        name="runs",
        mime_type="application/json",
        description="Training runs of every repository, newest first, with their status and loss URIs.",
    )
    def runs() -> str:
        return across_repos(forge, lambda ws: [r.model_dump() for r in list_runs(ws)])

    @server.resource(
        uris.RUN_LOSS,
        mime_type="application/json",
        description="A run's loss series (train and validation) with learning rate, tokens/s and "
        "peak memory per report; updated while the run goes.",
    )
    def run_loss(run_id: str) -> str:
        with tool_errors():
            return json.dumps(loss_series(forge.workspace_of_run(run_id), run_id), indent=2)

    @server.resource(
        uris.RUN_LOSS_PNG,
        mime_type="image/png",
        description="The loss curve of a run as a PNG plot (train and validation).",
    )
    def run_plot(run_id: str) -> bytes:

        with tool_errors():
            return loss_png(loss_series(forge.workspace_of_run(run_id), run_id))


def _budget(forge: Forge, repo: str | None, base_model: str) -> dict[str, Any] | None:
    """The time-budget profile for the repository's newest dataset, or None when it has none yet."""

    try:
        return plan_run(forge.workspace(repo), {"base_model": base_model})[1].model_dump()
    except NotFoundError:
        return None
