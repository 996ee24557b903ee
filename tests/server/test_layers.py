"""The per-layer update resources over MCP: JSON and PNG for a real tiny run, clear errors otherwise."""

from __future__ import annotations

import base64
import json

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from forge_mcp.miner.datasets import build_dataset
from forge_mcp.server.app import build_server
from forge_mcp.server.services import Forge
from tests.conftest import FAST_TINY_RUN, train_tiny

pytestmark = pytest.mark.anyio


async def test_layers_of_a_tiny_run_as_json_and_png(code_repo) -> None:
    forge = Forge([code_repo.path])
    ws = forge.workspace(str(code_repo.path))
    build_dataset(ws)
    run_id = train_tiny(ws, **FAST_TINY_RUN)
    ws.store.put_record("runs", "run-early", "running", {"params": {}, "step": 1})
    async with Client(build_server(forge, watch=False)) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert {"forge://runs/{run_id}/layers", "forge://runs/{run_id}/layers.png"} <= templates
        content = (await client.read_resource(f"forge://runs/{run_id}/layers")).contents[0]
        report = json.loads(content.text)
        assert content.mime_type == "application/json" and report["run_id"] == run_id
        assert report["method"] == "lora" and report["source"] == "adapters" and report["relative"]
        assert {m["layer"] for m in report["modules"]} == {0, 1} and report["total_update_norm"] > 0
        assert [t["module"] for t in report["by_module"]] == ["q_proj", "k_proj", "v_proj", "o_proj"]
        assert all(0 < m["effective_rank"] <= m["rank"] and m["relative_update"] > 0 for m in report["modules"])
        assert "changed most" in report["summary"]
        png = (await client.read_resource(f"forge://runs/{run_id}/layers.png")).contents[0]
        assert png.mime_type == "image/png" and base64.b64decode(png.blob).startswith(b"\x89PNG")
        with pytest.raises(MCPError, match="no run 'run-nope'"):
            await client.read_resource("forge://runs/run-nope/layers")
        with pytest.raises(MCPError, match="no adapter saved yet"):
            await client.read_resource("forge://runs/run-early/layers.png")
