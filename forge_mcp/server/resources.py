"""MCP resources: the repositories this server may touch, their status and their watcher events."""

from __future__ import annotations

import json

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.resources import FunctionResource

from forge_mcp.core import uris
from forge_mcp.monitor.changes import monitor, recent_events
from forge_mcp.server.services import Forge

EVENTS_LISTED = 100


def register_resources(server: MCPServer, forge: Forge) -> None:
    @server.resource(
        uris.REPOS,
        name="repositories",
        mime_type="application/json",
        description="The repositories this forge may touch, with their status and events resource URIs.",
    )
    def repositories() -> str:
        return json.dumps(
            [
                {
                    "name": e.name,
                    "path": str(e.path),
                    "is_git": e.is_git,
                    "problem": e.problem,
                    "watching": forge.watching(e.name),
                    "status_uri": uris.repo_status(e.name) if e.is_git else None,
                    "events_uri": uris.repo_events(e.name) if e.is_git else None,
                }
                for e in forge.repos.values()
            ],
            indent=2,
        )

    # One concrete pair per repository, so they are listed and can be subscribed to by URI.
    for name, entry in forge.repos.items():
        if not entry.is_git:
            continue

        def status(n: str = name) -> str:
            return monitor(forge.workspace_named(n)).model_dump_json(indent=2)

        def events(n: str = name) -> str:
            found = recent_events(forge.workspace_named(n), EVENTS_LISTED)
            return json.dumps({"repo": n, "events": [e.model_dump() for e in found]}, indent=2)

        server.add_resource(
            FunctionResource(
                uri=uris.repo_status(name),
                name=f"{name}-status",
                mime_type="application/json",
                fn=status,
                description=f"What changed in {name} since the last trained commit (the monitor_repo report). "
                "Updated when files change.",
            )
        )

        def index(n: str = name) -> str:
            ws = forge.workspace_named(n)
            last = ws.store.get_meta("index_last_sync")
            return json.dumps(
                {
                    "repo": n,
                    "built": ws.store.has_index(),
                    "embedder": ws.store.get_meta("index_embedder"),
                    "last_sync": json.loads(last) if last else None,
                },
                indent=2,
            )

        server.add_resource(
            FunctionResource(
                uri=uris.repo_index(name),
                name=f"{name}-index",
                mime_type="application/json",
                fn=index,
                description=f"The search index of {name}: built or not, embedder, and the last sync's figures "
                "(files, chunks, what was embedded). Updated after each watcher-driven re-index.",
            )
        )
        server.add_resource(
            FunctionResource(
                uri=uris.repo_events(name),
                name=f"{name}-events",
                mime_type="application/json",
                fn=events,
                description=f"The last {EVENTS_LISTED} file-watcher events in {name}, newest first "
                "(debounced; .git, the state folder and gitignored paths excluded). Subscribe for updates.",
            )
        )
