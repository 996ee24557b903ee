"""deploy_model / rollback_model / forge://deployments over MCP, on the local llama.cpp target."""

from __future__ import annotations

import json

import anyio
import pytest
from mcp import Client

from forge_mcp.deploy import llama_server
from forge_mcp.server.app import build_server
from forge_mcp.server.services import Forge

pytestmark = pytest.mark.anyio
RUN = {
    "base_model": "tiny",
    "task": "completion",
    "batch_size": 2,
    "max_seq_length": 256,
    "learning_rate": 1e-3,
    "iters": 6,
}


async def test_deploy_refuses_then_deploys_a_passing_run(code_repo, monkeypatch) -> None:
    pytest.importorskip("llama_cpp")
    port = llama_server.free_port()
    monkeypatch.setenv("FORGE_DEPLOY__LLAMA_PORT", str(port))
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens: auto falls back to llama.cpp
    async with Client(build_server(Forge([code_repo.path]), watch=False)) as client:
        await client.call_tool("chunk_data", {})
        run_id = (await client.call_tool("trigger_training", RUN)).structured_content["run_id"]
        with anyio.fail_after(240):
            while (await client.call_tool("training_status", {"run_id": run_id})).structured_content["status"] in (
                "queued",
                "running",
            ):
                await anyio.sleep(0.3)
        unvalidated = await client.call_tool("deploy_model", {})
        assert unvalidated.is_error and "never validated" in unvalidated.content[0].text
        check = {"max_examples": 1, "max_tokens": 8, "threshold": 0.0, "tolerance": 1.0, "gate": "absolute"}
        assert (await client.call_tool("validate_model", check)).structured_content["passed"]
        deployed = await client.call_tool("deploy_model", {"run_id": run_id})
        assert not deployed.is_error, deployed.content
        entry = deployed.structured_content
        try:
            assert entry["target"] == "llama_cpp" and entry["url"] == f"http://127.0.0.1:{port}/v1"
            assert entry["actor"].startswith("mcp client") and entry["parity"]["ok"] and not entry["forced"]
            log = json.loads((await client.read_resource("forge://deployments")).contents[0].text)
            assert log[0]["id"] == entry["id"] and log[0]["repo"] == "polyglot" and log[0]["run_id"] == run_id
            nothing = await client.call_tool("rollback_model", {})
            assert nothing.is_error and "no llama_cpp deployment older than" in nothing.content[0].text
        finally:
            llama_server.stop(entry["pid"])


async def test_deploying_tools_say_they_are_destructive(code_repo) -> None:
    async with Client(build_server(Forge([code_repo.path]), watch=False)) as client:
        hints = {t.name: t.annotations for t in (await client.list_tools()).tools}
    for name in ("deploy_model", "rollback_model", "run_cycle"):
        assert hints[name].destructive_hint is True and hints[name].read_only_hint is False
    assert hints["validate_model"].destructive_hint is False and hints["monitor_repo"].read_only_hint is True
