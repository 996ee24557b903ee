"""chunk_data over MCP: structured results, progress notifications, tool errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from forge_mcp.server.services import Forge
from forge_mcp.server.app import build_server

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_chunk_data_reports_progress_and_returns_the_dataset(repo, mode: str) -> None:
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with Client(build_server(Forge([repo.path]), watch=False), mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["chunk_data"].annotations.read_only_hint is False
        result = await client.call_tool("chunk_data", {}, progress_callback=on_progress)
        assert not result.is_error, result.content
        summary = result.structured_content
        assert summary["dataset_id"].startswith("ds-") and Path(summary["path"]).is_dir()
        assert summary["chunks_by_language"] == {"markdown": 1, "python": 2}
        assert summary["files"]["chunked"] == 3
        assert updates and updates[-1][0] == updates[-1][1] == 100
        assert [u[0] for u in updates] == sorted(u[0] for u in updates)
        again = await client.call_tool("chunk_data", {})
        assert again.structured_content["reused"] is True


async def test_chunk_data_errors_are_tool_errors(repo, make_repo, tmp_path: Path) -> None:
    empty = make_repo("empty")
    async with Client(build_server(Forge([repo.path, empty.path]), watch=False)) as client:
        cases = {
            (("ref", "nope"),): "not a commit, branch or tag",
            (("repo", str(empty.path)),): "no commits yet",
            (("repo", "/etc"),): "outside the repository roots",
            (("ref", "--output=x"),): "starts with '-'",
        }
        for args, message in cases.items():
            result = await client.call_tool("chunk_data", dict(args))
            assert result.is_error and message in result.content[0].text, result.content
        assert not (await client.call_tool("chunk_data", {})).is_error
