"""MCP tools and resource of deployment (thin wrappers over forge_mcp.deploy)."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from forge_mcp.core import uris
from forge_mcp.core.kinds import Target
from forge_mcp.deploy.deploy import Deployment, deploy, list_deployments, rollback
from forge_mcp.server.services import Forge
from forge_mcp.server.tools import RepoArg, across_repos, forge_tool, progress_reporter, tool_annotations, tool_errors

TargetArg = Annotated[
    Target,
    Field(description="'auto' (Ollama when it answers, else the local llama.cpp server), 'ollama' or 'llama_cpp'"),
]


def _actor(ctx: Context) -> str:
    try:
        info = ctx.session.client_params.client_info
        return f"mcp client {info.name} {info.version}"
    except AttributeError:
        return "mcp client"


def register_deploy(server: MCPServer, forge: Forge) -> None:
    @forge_tool(
        server,
        tool_annotations(
            "Deploy a validated run", read_only=False, idempotent=False, destructive=True, open_world=True
        ),
    )
    async def deploy_model(
        ctx: Context,
        run_id: Annotated[str, Field(description="A run id, or 'latest' (the newest completed run)")] = "latest",
        target: TargetArg = "auto",
        force: Annotated[
            bool,
            Field(
                description="Deploy although validation failed or is missing. Only when the "
                "user explicitly asks; the log records it."
            ),
        ] = False,
        repo: RepoArg = None,
    ) -> Deployment:
        """Deploy a run: fuse its adapter into the base, export a GGUF, verify it loads in llama.cpp and
        matches mlx's greedy tokens, then create `forge/<repo>:<short-sha>` in Ollama (template, stops,
        system prompt, temperature 0.2, top_k 40) and point `:latest` at it, or serve it with the local
        llama.cpp server on 127.0.0.1 after a real chat completion. Refuses a run that failed (or never
        had) validation unless `force`. Appends to the deployment log (`forge://deployments`) only when
        the deployment took effect. Reports progress.
        """
        with tool_errors():
            ws, progress, actor = forge.workspace(repo), progress_reporter(ctx), _actor(ctx)
            return await anyio.to_thread.run_sync(
                lambda: deploy(ws, run_id, target=target, force=force, actor=actor, progress=progress)
            )

    @forge_tool(
        server,
        tool_annotations(
            "Roll back to an earlier deployment", read_only=False, idempotent=False, destructive=True, open_world=True
        ),
    )
    async def rollback_model(
        ctx: Context,
        deployment_id: Annotated[
            int | None, Field(description="The deployment to serve again (default: the one before the current)")
        ] = None,
        target: TargetArg = "auto",
        repo: RepoArg = None,
    ) -> Deployment:
        """Serve an earlier deployment again: Ollama copies its tag to `:latest`; the llama.cpp server is
        restarted on its GGUF and checked with a chat completion. Logged like a deployment."""
        with tool_errors():
            ws, actor = forge.workspace(repo), _actor(ctx)
            return await anyio.to_thread.run_sync(
                lambda: rollback(ws, deployment_id=deployment_id, target=target, actor=actor)
            )

    @server.resource(
        uris.DEPLOYMENTS,
        name="deployments",
        mime_type="application/json",
        description="The deployment log of every repository, newest first: model, digest, run, "
        "commit, validation report, target, time, who forced what, rollbacks.",
    )
    def deployments() -> str:

        return across_repos(forge, lambda ws: [d.model_dump() for d in list_deployments(ws)])
