"""server.prompts: every playbook becomes an MCP prompt with its arguments; bad arguments are protocol errors."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from forge_mcp.server.playbooks import load_playbooks
from forge_mcp.server.prompts import register_prompts

pytestmark = pytest.mark.anyio


def prompt_server() -> MCPServer:
    server = MCPServer("prompts-test")
    register_prompts(server)
    return server


async def test_each_playbook_is_listed_with_its_arguments() -> None:
    books = {b.name: b for b in load_playbooks()}
    async with Client(prompt_server()) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == set(books) and books
    for name, book in books.items():
        prompt = prompts[name]
        assert prompt.title == book.title and prompt.description == book.description
        assert [(a.name, a.description, bool(a.required)) for a in prompt.arguments or []] == [
            (a.name, a.description, a.required) for a in book.arguments
        ]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_prompt_renders_like_its_playbook(mode: str) -> None:
    book = next(b for b in load_playbooks() if b.name == "what_changed")
    async with Client(prompt_server(), mode=mode) as client:
        result = await client.get_prompt("what_changed", {"since": "v1.2"})
        defaults = await client.get_prompt("what_changed")
    assert result.messages[0].content.text == book.render({"since": "v1.2"})
    assert defaults.messages[0].content.text == book.render({})


async def test_an_unknown_argument_is_invalid_params() -> None:
    async with Client(prompt_server()) as client:
        with pytest.raises(MCPError, match="has no argument") as caught:
            await client.get_prompt("what_changed", {"bogus": "1"})
    assert caught.value.error.code == INVALID_PARAMS
