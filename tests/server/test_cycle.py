"""run_cycle over MCP: in-process (waiting, with progress) and over stdio (in the background, followed through
forge://cycles/{id}); auto mode starting a cycle by itself after a real burst of commits."""

from __future__ import annotations

import json
import os
import sys
import warnings

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from forge_mcp.server.app import build_server
from forge_mcp.server.services import Forge
from tests.cycle.test_run import project, small_cycle_env

pytestmark = pytest.mark.anyio


async def _follow(client: Client, cycle_id: str, timeout: float = 300) -> dict:
    with anyio.fail_after(timeout):
        while True:
            record = json.loads((await client.read_resource(f"forge://cycles/{cycle_id}")).contents[0].text)
            if record["status"] != "running":
                return record
            await anyio.sleep(0.5)


async def test_run_cycle_in_process_with_progress(tmp_path, monkeypatch) -> None:
    small_cycle_env(monkeypatch)
    repo = project(tmp_path / "inproc")
    steps: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append(message or "")

    async with Client(build_server(Forge([repo.path]), watch=False)) as client:
        result = await client.call_tool("run_cycle", {"wait": True}, progress_callback=on_progress)
        assert not result.is_error, result.content
        cycle = result.structured_content
        assert cycle["status"] == "completed" and cycle["run_id"] and cycle["report_id"]
        assert [s["status"] for s in cycle["stages"]][-1] == "skipped"  # a failing run is never deployed
        assert any(s.startswith("chunk:") for s in steps) and any(s.startswith("deploy:") for s in steps)
        listed = json.loads((await client.read_resource("forge://cycles")).contents[0].text)
        assert listed[0]["cycle_id"] == cycle["cycle_id"] and listed[0]["repo"] == "inproc"
        report = (await client.read_resource(cycle["report_uri"])).contents[0].text
        assert "# Validation report" in report


async def test_run_cycle_over_stdio_in_the_background(tmp_path, monkeypatch) -> None:
    small_cycle_env(monkeypatch)
    repo = project(tmp_path / "stdio")
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "forge_mcp", "serve", "--repo", str(repo.path), "--no-watch"],
        env=dict(os.environ),
    )
    async with Client(server) as client:
        started = await client.call_tool("run_cycle", {})
        assert not started.is_error and started.structured_content["status"] == "running"
        busy = await client.call_tool("run_cycle", {})
        assert busy.is_error and "already running" in busy.content[0].text
        record = await _follow(client, started.structured_content["cycle_id"])
        assert record["status"] == "completed", record
        assert record["stages"][4]["summary"].startswith("FAIL")


async def test_auto_mode_fires_on_a_burst_of_commits(tmp_path, monkeypatch) -> None:
    small_cycle_env(monkeypatch)
    monkeypatch.setenv("FORGE_CYCLE__AUTO", "true")
    monkeypatch.setenv("FORGE_CYCLE__INDEX", "false")
    repo = project(tmp_path / "auto")
    from forge_mcp.core.workspace import Workspace

    Workspace.open(repo.path).mark_trained(repo.git("rev-parse", "HEAD"), 0.0)  # so only the burst is news
    updates: list[str] = []

    async def handler(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))

    async with Client(build_server(Forge([repo.path]), watch=True), mode="legacy", message_handler=handler) as client:
        with warnings.catch_warnings():  # the 2025-era subscription, as most clients still use it
            warnings.simplefilter("ignore")
            await client.subscribe_resource("forge://cycles")
        for i in range(12):  # a burst: twelve commits, each touching a new module
            repo.commit(
                f"burst {i}", {f"pkg/new_{i}.py": f"def added_{i}(x):\n    result = x * {i} + {i}\n    return result\n"}
            )
        with anyio.fail_after(120):
            while not (cycles := json.loads((await client.read_resource("forge://cycles")).contents[0].text)):
                await anyio.sleep(0.3)
        assert cycles[0]["trigger"] == "auto"
        record = await _follow(client, cycles[0]["cycle_id"])
        assert record["status"] == "completed", record["error"]
        assert record["stages"][-1]["status"] == "skipped" and record["deployment_id"] is None
        with anyio.fail_after(10):
            while "forge://cycles" not in updates:
                await anyio.sleep(0.1)
        assert len(json.loads((await client.read_resource("forge://cycles")).contents[0].text)) == 1
