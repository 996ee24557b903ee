"""Training over MCP: trigger, follow through status and live loss resources, cancel, errors."""

from __future__ import annotations

import base64
import json

import anyio
import pytest
from mcp import Client

from forge_mcp.server.app import build_server
from forge_mcp.server.services import Forge

pytestmark = pytest.mark.anyio
RUN = {"base_model": "tiny", "task": "instruction", "batch_size": 2, "max_seq_length": 256, "learning_rate": 1e-3}


async def test_train_follow_and_read_the_loss(code_repo) -> None:
    async with Client(build_server(Forge([code_repo.path]), watch=False)) as client:
        missing = await client.call_tool("trigger_training", {})
        assert missing.is_error and "chunk_data" in missing.content[0].text
        assert not (await client.call_tool("chunk_data", {})).is_error
        started = await client.call_tool("trigger_training", RUN | {"iters": 30})
        assert not started.is_error, started.content
        run_id = started.structured_content["run_id"]
        uri = f"forge://runs/{run_id}/loss"
        async with client.listen(resource_subscriptions=[uri]) as sub:
            with anyio.fail_after(120):
                event = await sub.__anext__()  # the first report announces the loss resource
            assert event.uri == uri
        with anyio.fail_after(240):
            while True:
                status = (await client.call_tool("training_status", {"run_id": run_id})).structured_content
                if status["status"] not in ("queued", "running"):
                    break
                await anyio.sleep(0.5)
        assert status["status"] == "completed" and status["step"] == 30
        series = json.loads((await client.read_resource(uri)).contents[0].text)
        assert [p["step"] for p in series["train"]][-1] == 30 and series["val"]
        png = (await client.read_resource(f"forge://runs/{run_id}/loss.png")).contents[0]
        assert png.mime_type == "image/png" and base64.b64decode(png.blob).startswith(b"\x89PNG")
        runs = json.loads((await client.read_resource("forge://runs")).contents[0].text)
        assert runs[0]["run_id"] == run_id and runs[0]["repo"] == "polyglot"
        latest = (await client.call_tool("training_status", {})).structured_content
        assert latest["run_id"] == run_id


async def test_cancel_resume_and_bad_arguments(code_repo) -> None:
    async with Client(build_server(Forge([code_repo.path]), watch=False), mode="legacy") as client:
        await client.call_tool("chunk_data", {})
        bad = await client.call_tool("trigger_training", {"method": "full"})
        assert bad.is_error
        bad_model = await client.call_tool("trigger_training", RUN | {"base_model": "nope"})
        assert bad_model.is_error and "unknown base model" in bad_model.content[0].text
        unknown = await client.call_tool("training_status", {"run_id": "run-nope"})
        assert unknown.is_error and "no run" in unknown.content[0].text
        run_id = (await client.call_tool("trigger_training", RUN | {"iters": 5000})).structured_content["run_id"]
        with anyio.fail_after(120):
            while (await client.call_tool("training_status", {"run_id": run_id})).structured_content["step"] < 5:
                await anyio.sleep(0.2)
        busy = await client.call_tool("trigger_training", RUN | {"iters": 5})
        assert busy.is_error and "already training" in busy.content[0].text
        cancelled = (await client.call_tool("cancel_training", {"run_id": run_id})).structured_content
        assert cancelled["status"] == "cancelled" and cancelled["resumable"]
        resumed = (await client.call_tool("resume_training", {"run_id": run_id})).structured_content
        assert resumed["status"] in ("queued", "running")
        assert (await client.call_tool("cancel_training", {"run_id": run_id})).structured_content[
            "status"
        ] == "cancelled"


async def test_plan_training(code_repo) -> None:
    async with Client(build_server(Forge([code_repo.path]), watch=False)) as client:
        plan = await client.call_tool("plan_training", {})
        assert not plan.is_error, plan.content
        data = plan.structured_content
        assert data["estimate"]["fits"] and data["machine"]["memory_bytes"] > 2**30
        assert data["config"]["method"] in ("lora", "qlora")
        big = await client.call_tool("plan_training", {"base_model": "mlx-community/Qwen2.5-Coder-7B-Instruct-4bit"})
        assert not big.is_error and big.structured_content["model"]["params"] > 5e9
        unknown = await client.call_tool("plan_training", {"base_model": "someone/unknown-model"})
        assert unknown.is_error and "unknown architecture" in unknown.content[0].text
        assert data["budget"] is None  # no dataset yet: nothing to fit a time budget to
        assert not (await client.call_tool("chunk_data", {})).is_error
        timed = (await client.call_tool("plan_training", {"base_model": "tiny"})).structured_content["budget"]
        assert timed["iters"] >= 1 and timed["max_seq_length"] >= 128 and timed["reasons"]
