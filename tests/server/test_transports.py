"""The server over real transports: a stdio subprocess, and streamable HTTP with a bearer token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from tests.server import ALL_TOOLS

pytestmark = pytest.mark.anyio


def _stdio(repo: Path, *extra: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "forge_mcp", "serve", "--repo", str(repo), *extra],
        env=env,
    )


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_subprocess_serves_tools_and_resources(repo, mode: str) -> None:
    async with Client(_stdio(repo.path), mode=mode) as client:
        assert {t.name for t in (await client.list_tools()).tools} == ALL_TOOLS
        result = await client.call_tool("monitor_repo", {})
        assert not result.is_error and result.structured_content["commit_count"] == 2
        outside = await client.call_tool("monitor_repo", {"repo": "/"})
        assert outside.is_error and "outside the repository roots" in outside.content[0].text
        status = json.loads((await client.read_resource("forge://repos/project/status")).contents[0].text)
        assert status["head"] == repo.git("rev-parse", "HEAD")


async def test_stdio_subscriber_sees_a_real_file_save(repo) -> None:
    uri = "forge://repos/project/events"
    updates: list[str] = []

    async def handler(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))

    async with Client(_stdio(repo.path), mode="legacy", message_handler=handler) as client:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await client.subscribe_resource(uri)
        repo.write("saved.py", "print('hi')\n")
        with anyio.fail_after(10):
            while uri not in updates:
                await anyio.sleep(0.02)
    async with Client(_stdio(repo.path, "--no-watch")) as client:
        async with client.listen(resource_subscriptions=[uri]) as sub:
            assert sub.honored.resource_subscriptions == [uri]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server(repo, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    token = tmp_path / "token"
    token.write_text("t0ken\n")  # from a file: a --token flag would show in the process list
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "forge_mcp",
            "serve",
            "--repo",
            str(repo.path),
            "--http",
            "--port",
            str(port),
            "--token-file",
            str(token),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_http_requires_the_bearer_token(http_server: str) -> None:
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient() as raw:
        denied = await raw.post(http_server, json=body, headers={"Accept": "application/json, text/event-stream"})
        wrong = await raw.post(http_server, json=body, headers={"Authorization": "Bearer nope"})
    assert denied.status_code == 401 and wrong.status_code == 401
    for mode in ("auto", "legacy"):
        http_client = create_mcp_http_client(headers={"Authorization": "Bearer t0ken"})
        async with http_client, Client(streamable_http_client(http_server, http_client=http_client), mode=mode) as c:
            result = await c.call_tool("monitor_repo", {})
            assert not result.is_error and result.structured_content["commit_count"] == 2


def test_http_on_a_public_address_needs_a_token(repo) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "forge_mcp", "serve", "--repo", str(repo.path), "--http", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "without a bearer token" in proc.stderr
    assert proc.stdout == ""


def test_a_repository_cannot_open_the_server_to_the_network(repo) -> None:
    repo.commit("config", {"forge.toml": '[server]\nhost = "0.0.0.0"\ntoken = "known-to-the-author"\n'})
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "forge_mcp", "serve", "--repo", str(repo.path), "--http", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "sets `server.host`" in proc.stderr and "`serve --host`" in proc.stderr


async def test_stdio_chunk_data_in_worker_processes_keeps_the_channel_clean(make_repo) -> None:
    """Over 4 MB of new code: `serve` chunks it in worker processes, which share its stdout."""
    big = make_repo("big")
    body = "".join(
        f"def handler_{i}(request, value={i}):\n    total = value * 2\n    return total + {i}\n\n\n" for i in range(900)
    )
    big.commit("lots of code", {f"pkg/mod_{n}.py": body for n in range(62)})  # 62 x ~70 KB
    async with Client(_stdio(big.path)) as client:
        result = await client.call_tool("chunk_data", {})
        assert not result.is_error, result.content
        assert result.structured_content["files"]["chunked"] == 62
        assert result.structured_content["chunks_by_language"]["python"] >= 62
        assert (await client.call_tool("monitor_repo", {})).structured_content["commit_count"] == 1
