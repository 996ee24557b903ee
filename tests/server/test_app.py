"""The MCP server in-process, in both protocol eras, over real git repositories."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client

from forge_mcp.server.app import build_server
from forge_mcp.server.services import Forge

pytestmark = pytest.mark.anyio
ERAS = ["auto", "legacy"]


def _server(*roots: Path, watch: bool = False):
    return build_server(Forge(list(roots)), watch=watch)


@pytest.mark.parametrize("mode", ERAS)
async def test_tools_are_typed_and_annotated(repo, mode: str) -> None:
    async with Client(_server(repo.path), mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    tool = tools["monitor_repo"]
    assert tool.annotations is not None and tool.annotations.read_only_hint is True
    assert tool.annotations.destructive_hint is False
    assert set(tool.input_schema["properties"]) == {"repo", "since", "max_commits"}
    assert "significance" in (tool.output_schema or {}).get("properties", {})
    assert "last trained commit" in (tool.description or "")


@pytest.mark.parametrize("mode", ERAS)
async def test_monitor_repo_returns_structured_report(repo, mode: str) -> None:
    async with Client(_server(repo.path), mode=mode) as client:
        result = await client.call_tool("monitor_repo", {"since": "v0.1"})
    assert not result.is_error
    report = result.structured_content
    assert report is not None and report["commit_count"] == 1
    assert report["files"] == [{"path": "src/util.py", "status": "added", "old_path": None}]


@pytest.mark.parametrize("mode", ERAS)
async def test_bad_inputs_are_tool_errors_and_the_server_keeps_serving(repo, tmp_path: Path, mode: str) -> None:
    plain = tmp_path / "workspace" / "notes"
    plain.mkdir(parents=True)
    async with Client(_server(repo.path, tmp_path / "workspace"), mode=mode) as client:
        cases = {
            "../../etc": "outside the repository roots",
            str(plain): "not inside a git repository",
            "src/missing.py": "does not exist",
        }
        for path, message in cases.items():
            result = await client.call_tool("monitor_repo", {"repo": path})
            assert result.is_error and message in result.content[0].text, result.content
        bad_ref = await client.call_tool("monitor_repo", {"since": "nope"})
        assert bad_ref.is_error and "not a commit, branch or tag" in bad_ref.content[0].text
        bad_arg = await client.call_tool("monitor_repo", {"max_commits": -1})
        assert bad_arg.is_error
        ok = await client.call_tool("monitor_repo", {"repo": "src"})
        assert not ok.is_error and ok.structured_content["repo"] == str(repo.path.resolve())


async def test_malformed_config_is_a_tool_error(repo) -> None:
    repo.write("forge.toml", "[monitor]\nmin_changed_files = 'many'\n")
    async with Client(_server(repo.path)) as client:
        result = await client.call_tool("monitor_repo", {})
        assert result.is_error and "monitor.min_changed_files" in result.content[0].text
        repo.write("forge.toml", "[monitor]\nmin_changed_files = 2\n")
        assert not (await client.call_tool("monitor_repo", {})).is_error


@pytest.mark.parametrize("mode", ERAS)
async def test_resources_list_and_read(repo, make_repo, mode: str) -> None:
    other = make_repo("project-b")
    other.commit("init", {"b.py": "pass\n"})
    async with Client(_server(repo.path, other.path), mode=mode) as client:
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {
            "forge://repos",
            "forge://repos/project/status",
            "forge://repos/project/events",
            "forge://repos/project-b/status",
        } <= uris
        listing = json.loads((await client.read_resource("forge://repos")).contents[0].text)
        assert [r["name"] for r in listing] == ["project", "project-b"]
        status = json.loads((await client.read_resource("forge://repos/project-b/status")).contents[0].text)
        assert status["commit_count"] == 1 and status["files"][0]["path"] == "b.py"
        events = json.loads((await client.read_resource("forge://repos/project/events")).contents[0].text)
        assert events == {"repo": "project", "events": []}


async def test_modern_client_is_notified_of_file_changes(repo) -> None:
    uri = "forge://repos/project/events"
    async with Client(_server(repo.path, watch=True)) as client:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(resource_subscriptions=[uri]) as sub:
            repo.write("src/new_module.py", "VALUE = 1\n")
            with anyio.fail_after(10):
                event = await sub.__anext__()
            assert event.uri == uri
        events = json.loads((await client.read_resource(uri)).contents[0].text)["events"]
        assert events[0]["path"] == "src/new_module.py" and events[0]["kind"] == "created"


async def test_legacy_client_is_notified_of_file_changes(repo) -> None:
    uri = "forge://repos/project/events"
    updates: list[str] = []

    async def handler(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))

    async with Client(_server(repo.path, watch=True), mode="legacy", message_handler=handler) as client:
        assert client.server_capabilities.resources.subscribe is True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resources/subscribe is deprecated for 2026 clients only
            await client.subscribe_resource(uri)
        repo.write("src/app.py", "def main():\n    return 3\n")
        with anyio.fail_after(10):
            while uri not in updates:
                await anyio.sleep(0.01)
        status = json.loads((await client.read_resource("forge://repos/project/status")).contents[0].text)
        assert status["working_tree"]["unstaged"] == ["src/app.py"]
        assert status["recent_events"][0]["path"] == "src/app.py"


async def test_watcher_stops_with_the_last_client(repo) -> None:
    import threading

    server = _server(repo.path, watch=True)
    async with Client(server):
        async with Client(server, mode="legacy"):
            pass
        assert any(t.name.startswith("forge-watch") for t in threading.enumerate())
    assert not any(t.name.startswith("forge-watch") for t in threading.enumerate())
