"""MCP tools: typed signatures over pipeline functions. Errors become tool errors an agent can act on."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from forge_mcp.errors import ForgeError
from forge_mcp.forge import Forge
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
