"""The deployment log: an append-only record in the store of every deployment and rollback that happened.

Only actions that took effect are written (a failed upload or an unreachable server leaves no entry);
the newest entry of a target is what that target serves now.
"""

from __future__ import annotations

from typing import Any

from forge_mcp.workspace import Workspace

ACTIONS = ("deploy", "rollback")


def current_deployment(ws: Workspace, target: str | None = None) -> dict[str, Any] | None:
    """The newest deploy or rollback entry (of `target`, when given), or None if nothing was deployed."""
    for entry in ws.store.deployments(limit=10_000):
        if entry["action"] in ACTIONS and (target is None or entry["data"].get("target") == target):
            return entry
    return None
