"""index_repo and rag_search over MCP, and the watcher keeping the index fresh."""

from __future__ import annotations

import time

import anyio
import pytest
from mcp import Client

from forge_mcp.server.services import Forge
from forge_mcp.server.app import build_server
from tests.index.conftest import search_repo  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio


async def test_index_then_search_then_edit_is_found(search_repo) -> None:  # noqa: F811
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
        search_repo.write("shop/loyalty.py", 'def award_loyalty_points(customer, order_total):\n'
                          '    """Award loyalty points for an order."""\n    return int(order_total // 10)\n')
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
