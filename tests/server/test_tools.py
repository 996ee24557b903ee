"""The tools of server/tools.py over MCP: chunk_data (structured results, progress, tool errors), index_repo and
rag_search (and the watcher keeping the index fresh)."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from forge_mcp.server.app import build_server
from forge_mcp.server.services import Forge

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


async def test_index_then_search_then_edit_is_found(search_repo) -> None:
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with Client(build_server(Forge([search_repo.path]), watch=True)) as client:
        empty = await client.call_tool("rag_search", {"query": "refund"})
        assert empty.is_error and "index_repo" in empty.content[0].text
        built = await client.call_tool("index_repo", {}, progress_callback=on_progress)
        assert not built.is_error and built.structured_content["files_indexed"] == 4 and progress
        found = await client.call_tool("rag_search", {"query": "refund a captured payment", "k": 3})
        hits = found.structured_content["hits"]
        assert hits[0]["symbol"] == "refund_payment" and hits[0]["path"] == "shop/payment.py"
        assert {"start_line", "end_line", "score", "text", "kind", "language"} <= set(hits[0])

        # A save in the work tree is picked up by the watcher and re-indexed without any tool call.
        search_repo.write(
            "shop/loyalty.py",
            "def award_loyalty_points(customer, order_total):\n"
            '    """Award loyalty points for an order."""\n    return int(order_total // 10)\n',
        )
        started = time.monotonic()
        with anyio.fail_after(30):
            while True:
                result = await client.call_tool("rag_search", {"query": "award loyalty points", "k": 1})
                if result.structured_content["hits"][0]["symbol"] == "award_loyalty_points":
                    break
                await anyio.sleep(0.05)
        assert time.monotonic() - started < 30
        bad = await client.call_tool("rag_search", {"query": "x", "mode": "fuzzy"})
        assert bad.is_error
        worse = await client.call_tool("rag_search", {"query": "x", "path_glob": "shop/*", "kind": "lambda"})
        assert worse.is_error and "kind must be one of" in worse.content[0].text
