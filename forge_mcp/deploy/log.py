"""The deployment log: an append-only record in the store of every deployment and rollback that happened.

Only actions that took effect are written (a failed upload or an unreachable server leaves no entry);
the newest entry of a target is what that target serves now.
"""

from __future__ import annotations

from typing import Any

from forge_mcp.core.workspace import Workspace

ACTIONS = ("deploy", "rollback")  # what puts a model in service; "stop" takes a target's model out


def current_deployment(ws: Workspace, target: str | None = None) -> dict[str, Any] | None:
    """The entry whose model is in service (of `target`, when given), or None if nothing is served."""
    stopped: set[str] = set()
    for entry in ws.store.deployments(limit=10_000):
        kind = entry["data"].get("target")
        if entry["action"] == "stop":
            stopped.add(kind)
        elif entry["action"] in ACTIONS and kind not in stopped and (target is None or kind == target):
            return entry
    return None
