"""MCP prompts: the playbooks in prompts/, each with its declared arguments."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from forge_mcp.core.errors import ForgeError
from forge_mcp.server.playbooks import Playbook, load_playbooks


def register_prompts(server: MCPServer) -> None:
    for book in load_playbooks():
        server.add_prompt(_prompt(book))


def _prompt(book: Playbook) -> Prompt:
    def render(**values: str | None) -> str:
        try:
            return book.render(values)
        except ForgeError as exc:  # bad arguments are the caller's to fix: a clear protocol error
            raise MCPError(INVALID_PARAMS, str(exc)) from exc

    return Prompt(
        name=book.name,
        title=book.title,
        description=book.description,
        fn=render,
        arguments=[PromptArgument(name=a.name, description=a.description, required=a.required) for a in book.arguments],
    )
