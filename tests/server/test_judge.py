"""validate_model over MCP: progress, the summary, the report resources, errors."""

from __future__ import annotations

import base64
import json

import anyio
import pytest
from mcp import Client

from forge_mcp.server.app import build_server
from forge_mcp.server.services import Forge

pytestmark = pytest.mark.anyio
RUN = {
    "base_model": "tiny",
    "task": "completion",
    "batch_size": 2,
    "max_seq_length": 256,
    "learning_rate": 1e-3,
    "iters": 10,
}


async def test_validate_a_run_and_read_its_report(code_repo) -> None:
    async with Client(build_server(Forge([code_repo.path]), watch=False)) as client:
        nothing = await client.call_tool("validate_model", {})
        assert nothing.is_error and "no completed training run" in nothing.content[0].text
        await client.call_tool("chunk_data", {})
        run_id = (await client.call_tool("trigger_training", RUN)).structured_content["run_id"]
        busy = await client.call_tool("validate_model", {"target": run_id})
        assert busy.is_error and "still training" in busy.content[0].text
        with anyio.fail_after(240):
            while (await client.call_tool("training_status", {"run_id": run_id})).structured_content["status"] in (
                "queued",
                "running",
            ):
                await anyio.sleep(0.3)
        steps: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            steps.append(progress)

        result = await client.call_tool(
            "validate_model", {"max_examples": 2, "max_tokens": 16, "gate": "absolute"}, progress_callback=on_progress
        )
        assert not result.is_error, result.content
        summary = result.structured_content
        assert summary["candidate"] == run_id and summary["passed"] is False and summary["baseline"]
        assert summary["gate"] == "absolute" and "below the threshold" in summary["rule"]
        assert steps and steps[-1] == 4 * summary["examples_used"]  # 2 models x (generation, perplexity)
        md = (await client.read_resource(summary["report_uri"])).contents[0]
        assert md.mime_type == "text/markdown" and "# Validation report" in md.text
        data = json.loads((await client.read_resource(summary["json_uri"])).contents[0].text)
        assert data["report_id"] == summary["report_id"] and len(data["examples"]) == summary["examples_used"]
        png = (await client.read_resource(summary["chart_uri"])).contents[0]
        assert base64.b64decode(png.blob).startswith(b"\x89PNG")
        listed = json.loads((await client.read_resource("forge://reports")).contents[0].text)
        assert listed[0]["report_id"] == summary["report_id"] and listed[0]["run_id"] == run_id
        status = (await client.call_tool("training_status", {"run_id": run_id})).structured_content
        assert status["report_id"] == summary["report_id"]
        missing = await client.call_tool("validate_model", {"target": "run-nope"})
        assert missing.is_error and "no run" in missing.content[0].text
