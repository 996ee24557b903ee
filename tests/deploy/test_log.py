"""deploy/log.py: which entry of the real deployment log is in service, per target and overall."""

from __future__ import annotations

from forge_mcp.core.workspace import Workspace
from forge_mcp.deploy.log import ACTIONS, current_deployment


def test_the_newest_deploy_or_rollback_serves_until_its_target_is_stopped(repo) -> None:
    ws = Workspace.open(repo.path)
    assert current_deployment(ws) is None and ACTIONS == ("deploy", "rollback")
    first = ws.store.append_deployment("deploy", {"target": "llama_cpp", "model": "a"}, run_id="run-a")
    assert current_deployment(ws)["id"] == first and current_deployment(ws, "ollama") is None
    ollama = ws.store.append_deployment("deploy", {"target": "ollama", "model": "b"}, run_id="run-b")
    assert current_deployment(ws)["id"] == ollama and current_deployment(ws, "llama_cpp")["id"] == first
    back = ws.store.append_deployment("rollback", {"target": "llama_cpp", "model": "a"}, run_id="run-a")
    assert current_deployment(ws)["id"] == back and current_deployment(ws, "ollama")["id"] == ollama
    ws.store.append_deployment("stop", {"target": "llama_cpp"})
    assert current_deployment(ws, "llama_cpp") is None and current_deployment(ws)["id"] == ollama
    again = ws.store.append_deployment("deploy", {"target": "llama_cpp", "model": "c"}, run_id="run-c")
    entry = current_deployment(ws, "llama_cpp")
    assert entry["id"] == again and entry["run_id"] == "run-c" and entry["data"]["model"] == "c"
    ws.store.append_deployment("stop", {"target": "ollama"})
    ws.store.append_deployment("stop", {"target": "llama_cpp"})
    assert current_deployment(ws) is None
