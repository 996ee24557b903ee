"""server/resources.py through an in-process MCP client: forge://repos and each repository's status, index
and events resources."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from forge_mcp.core import uris
from forge_mcp.core.workspace import Workspace
from forge_mcp.monitor.changes import recent_events
from forge_mcp.monitor.watcher import RepoWatcher
from forge_mcp.server.app import build_server
from forge_mcp.server.services import Forge
from tests.conftest import wait_until

pytestmark = pytest.mark.anyio


async def _read(client: Client, uri: str):
    return json.loads((await client.read_resource(uri)).contents[0].text)


async def test_repos_lists_every_root_and_its_resources(repo, tmp_path) -> None:
    (tmp_path / "notes").mkdir()
    async with Client(build_server(Forge([repo.path, tmp_path / "notes"]), watch=False)) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        repos = await _read(client, "forge://repos")
    assert {uris.repo_status("project"), uris.repo_events("project"), uris.repo_index("project")} <= listed
    assert not any("notes" in uri for uri in listed)
    project, notes = repos
    assert project == {
        "name": "project",
        "path": str(repo.path.resolve()),
        "is_git": True,
        "problem": None,
        "watching": False,
        "status_uri": "forge://repos/project/status",
        "events_uri": "forge://repos/project/events",
    }
    assert notes["is_git"] is False and notes["problem"] and notes["status_uri"] is None


async def test_status_index_and_events_of_a_repository(repo) -> None:
    ws = Workspace.open(repo.path)
    async with Client(build_server(Forge([repo.path]), watch=False)) as client:
        status = await _read(client, uris.repo_status("project"))
        assert status["commit_count"] == 2 and status["significance"]["significant"] in (True, False)
        index = await _read(client, uris.repo_index("project"))
        assert index == {"repo": "project", "built": False, "embedder": None, "last_sync": None}
        ws.store.set_meta("index_last_sync", json.dumps({"files": 3}))
        assert (await _read(client, uris.repo_index("project")))["last_sync"] == {"files": 3}
        assert await _read(client, uris.repo_events("project")) == {"repo": "project", "events": []}


async def test_events_lists_what_the_watcher_recorded(repo) -> None:
    ws = Workspace.open(repo.path)
    with RepoWatcher(ws):
        repo.write("src/new.py", "x = 1\n")
        assert wait_until(lambda: bool(recent_events(ws, 10)), timeout=10)
    async with Client(build_server(Forge([repo.path]), watch=False)) as client:
        events = (await _read(client, uris.repo_events("project")))["events"]
    assert events[0]["path"] == "src/new.py" and events[0]["kind"] == "created"
