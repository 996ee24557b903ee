"""MCP tools: typed signatures over pipeline functions. Errors become tool errors an agent can act on."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import mcp_types as types
import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from forge_mcp.errors import ForgeError
from forge_mcp.forge import Forge
from forge_mcp.miner.datasets import DatasetSummary
from forge_mcp.monitor import MonitorReport, monitor

RepoArg = Annotated[
    str | None,
    Field(description="Repository path: absolute, or relative to the server's first root. Omit for the first root."),
]


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn forge errors into tool errors (is_error=True with the message), never protocol failures."""
    try:
        yield
    except ForgeError as exc:
        raise ToolError(str(exc)) from exc


def _tool(server: MCPServer, annotations: types.ToolAnnotations) -> Callable[[Callable[..., object]], object]:
    """Register a tool; its description is the docstring, dedented (agents read it cold)."""

    def register(fn: Callable[..., object]) -> object:
        return server.tool(description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations)(fn)

    return register


def register_tools(server: MCPServer, forge: Forge) -> None:
    @_tool(
        server,
        types.ToolAnnotations(
            title="What changed since the last trained model", read_only_hint=True,
            destructive_hint=False, idempotent_hint=True, open_world_hint=False,
        )
    )
    def monitor_repo(
        repo: RepoArg = None,
        since: Annotated[
            str | None,
            Field(description="Compare against this commit, branch or tag instead of the last trained commit."),
        ] = None,
        max_commits: Annotated[
            int | None, Field(ge=0, le=10_000, description="How many commits to list (all are counted). Default 50.")
        ] = None,
    ) -> MonitorReport:
        """Report what changed in a repository since the last trained commit (or `since`).

        Returns the commits, changed/added/deleted/renamed files with line totals, new tags, the
        working-tree status (staged, modified, untracked), recent file-watcher events, and a
        `significance` verdict with its reasons: whether the change is big enough to retrain on
        (defaults: 10 changed files or a new tag; set in forge.toml [monitor]).
        Call this first, and again after the user commits; it is read-only and fast.
        """
        with tool_errors():
            return monitor(forge.workspace(repo), since=since, max_commits=max_commits)

    @_tool(
        server,
        types.ToolAnnotations(
            title="Chunk the code and build fine-tuning datasets", read_only_hint=False,
            destructive_hint=False, idempotent_hint=True, open_world_hint=False,
        ),
    )
    async def chunk_data(
        ctx: Context,
        repo: RepoArg = None,
        ref: Annotated[str, Field(description="Commit, branch or tag to read the code at.")] = "HEAD",
        force: Annotated[bool, Field(description="Rebuild even if an identical dataset exists.")] = False,
        teacher_model: Annotated[
            str | None,
            Field(description="Ollama model that writes RAFT questions/reasoning (default: forge.toml "
                              "[miner] teacher_model; templated when unset or unreachable)."),
        ] = None,
    ) -> DatasetSummary:
        """Chunk a repository's code with tree-sitter and build its fine-tuning datasets.

        Reads the tracked files at `ref` (default HEAD): functions, methods, classes and docs become
        chunks; binary, generated, vendored, minified, huge and secret files are skipped with reasons,
        and secrets inside code are redacted. Writes completion, instruction, RAFT and text datasets
        (mlx-lm JSONL: train/valid/test), with units touched by the most recent commits held out as
        the test set. Returns counts per language and kind, skipped files, split sizes and the
        `dataset_id` (identical inputs return the stored dataset at once). Reports progress.
        """
        with tool_errors():
            ws = forge.workspace(repo)
            from forge_mcp.miner.datasets import build_dataset

            teacher = None
            model = teacher_model or ws.config.miner.teacher_model
            if model:
                from forge_mcp.miner.teacher import Teacher

                teacher = Teacher(model, ws.config.miner.ollama_host)

            def progress(done: int, total: int, message: str) -> None:
                anyio.from_thread.run(ctx.report_progress, done, total, message)

            return await anyio.to_thread.run_sync(
                lambda: build_dataset(ws, ref, force=force, progress=progress, teacher=teacher)
            )
