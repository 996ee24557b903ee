"""MCP tool and resources of the whole loop (thin wrappers over forge_mcp.cycle.run and forge_mcp.cycle.auto)."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from forge_mcp.core import uris
from forge_mcp.core.kinds import Target
from forge_mcp.cycle.auto import start_cycle
from forge_mcp.cycle.params import CycleParams, CycleResult
from forge_mcp.cycle.run import cycle_info, list_cycles
from forge_mcp.cycle.run import run_cycle as run
from forge_mcp.server.services import Forge
from forge_mcp.server.tools import RepoArg, across_repos, forge_tool, progress_reporter, tool_annotations, tool_errors


def register_cycle(server: MCPServer, forge: Forge) -> None:
    @forge_tool(
        server,
        tool_annotations("Run the whole loop", read_only=False, idempotent=False, destructive=True, open_world=True),
    )
    async def run_cycle(
        ctx: Context,
        wait: Annotated[
            bool,
            Field(
                description="Run to the end with progress notifications (minutes) instead "
                "of returning at once and following forge://cycles/{id}"
            ),
        ] = False,
        base_model: Annotated[
            str | None, Field(max_length=4096, description="Base model (default forge.toml [cycle], 'smollm2-135m')")
        ] = None,
        iters: Annotated[
            int | None, Field(ge=1, le=1_000_000, description="Training steps (default: chosen by the budget plan)")
        ] = None,
        deploy: Annotated[
            bool | None, Field(description="Deploy the run if it passes validation (default: [cycle] deploy, true)")
        ] = None,
        target: Annotated[Target | None, Field(description="Where to deploy (default: [deploy] target, auto)")] = None,
        force_deploy: Annotated[
            bool,
            Field(
                description="Deploy even if validation fails. Only when the user explicitly asks; the log records it."
            ),
        ] = False,
        repo: RepoArg = None,
    ) -> CycleResult:
        """Run the whole loop on a repository: monitor, chunk, index, train, validate, deploy.

        Each stage is what its own tool does; the run trains in a worker, validation compares it with
        the deployed (or base) model, and it is deployed only if it passes (Ollama when reachable, else
        the local llama.cpp server). One cycle at a time per repository; it waits behind a training run
        already going. Returns the cycle record (stages with status, timings and summaries; the run,
        report and deployment it produced). Follow it at `forge://cycles/{cycle_id}`.
        """
        with tool_errors():
            ws = forge.workspace(repo)
            params = CycleParams.from_config(
                ws,
                base_model=base_model,
                iters=iters,
                deploy=deploy,
                target=target,
                force_deploy=force_deploy,
                trigger="manual",
            )
            if not wait:
                return await anyio.to_thread.run_sync(lambda: start_cycle(ws, params, rag=forge.rag(ws)))
            progress = progress_reporter(ctx)
            return await anyio.to_thread.run_sync(lambda: run(ws, params, progress=progress, rag=forge.rag(ws)))

    @server.resource(
        uris.CYCLES,
        name="cycles",
        mime_type="application/json",
        description="Cycles of every repository, newest first, stage by stage (auto and manual).",
    )
    def cycles() -> str:
        return across_repos(forge, lambda ws: [c.model_dump() for c in list_cycles(ws)])

    @server.resource(
        uris.CYCLE,
        mime_type="application/json",
        description="One cycle: each stage's status, time and summary; the run, loss plot, report and "
        "deployment it produced. Updated notifications as it goes.",
    )
    def cycle(cycle_id: str) -> str:
        with tool_errors():
            return cycle_info(forge.workspace_of("cycles", cycle_id), cycle_id).model_dump_json(indent=2)
