"""The whole loop end to end on a real temp repository with the tiny model (pipeline level)."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge_mcp.core.errors import CycleError
from forge_mcp.core.workspace import Workspace
from forge_mcp.cycle.params import CycleParams
from forge_mcp.cycle.run import cycle_info, list_cycles, new_cycle, run_cycle
from forge_mcp.deploy import llama_server
from forge_mcp.deploy.deploy import list_deployments
from tests.conftest import GitRepo

SMALL = {
    "FORGE_CYCLE__BASE_MODEL": "tiny",
    "FORGE_CYCLE__ITERS": "6",
    "FORGE_CYCLE__BATCH_SIZE": "2",
    "FORGE_CYCLE__MAX_SEQ_LENGTH": "256",
    "FORGE_CYCLE__COMPILE": "false",
    "FORGE_JUDGE__GATE": "absolute",
    "FORGE_JUDGE__MAX_EXAMPLES": "2",
    "FORGE_JUDGE__MAX_TOKENS": "16",
    "OLLAMA_HOST": "http://127.0.0.1:9",
}


def small_cycle_env(monkeypatch: pytest.MonkeyPatch) -> int:
    """A quick cycle: few steps and examples; Ollama unreachable so deployments go to llama.cpp on a free port."""
    port = llama_server.free_port()
    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FORGE_DEPLOY__LLAMA_PORT", str(port))
    return port


def project(path: Path) -> GitRepo:
    repo = GitRepo(path)
    repo.commit(
        "code",
        {
            f"pkg/m{i}.py": f'def helper_{i}(value):\n    """Return value plus {i}."""\n'
            f"    total = value + {i}\n    return total\n"
            for i in range(12)
        },
    )
    repo.commit(
        "recent",
        {"pkg/m0.py": 'def helper_0(value):\n    """Double it."""\n    doubled = value * 2\n    return doubled\n'},
    )
    return repo


def test_a_full_cycle_trains_validates_and_deploys_only_when_forced(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("llama_cpp")
    port = small_cycle_env(monkeypatch)
    ws = Workspace.open(project(tmp_path / "loop").path)
    steps: list[str] = []
    first = run_cycle(ws, CycleParams.from_config(ws), progress=lambda d, t, m: steps.append(m))
    assert first.status == "completed", first.error
    assert [s.status for s in first.stages] == ["done"] * 5 + ["skipped"]  # the tiny model fails validation
    assert "failed validation" in first.stages[-1].summary and not list_deployments(ws)
    assert Path(first.loss_png).read_bytes()[:4] == b"\x89PNG" and Path(first.report_path).is_file()
    assert any(m.startswith("train: run") for m in steps) and any(m.startswith("validate:") for m in steps)
    assert cycle_info(ws, first.cycle_id).model_dump() == first.model_dump()
    forced = run_cycle(ws, CycleParams.from_config(ws, force_deploy=True))
    try:
        assert forced.status == "completed" and forced.stages[-1].status == "done", forced.error
        assert forced.deployed_url == f"http://127.0.0.1:{port}/v1"
        entry = list_deployments(ws)[0]
        assert entry.forced and entry.run_id == forced.run_id and entry.actor == "forge-mcp cycle (manual)"
        assert llama_server.chat_check(port)["reply"] is not None
    finally:
        for entry in list_deployments(ws):
            llama_server.stop(entry.pid)
    assert [c.cycle_id for c in list_cycles(ws)] == [forced.cycle_id, first.cycle_id]


def test_one_cycle_at_a_time_and_a_failed_stage_is_recorded(tmp_path: Path, monkeypatch) -> None:
    small_cycle_env(monkeypatch)
    ws = Workspace.open(project(tmp_path / "busy").path)
    running = new_cycle(ws, CycleParams.from_config(ws))
    with pytest.raises(CycleError, match="already running"):
        new_cycle(ws, CycleParams.from_config(ws))
    result = run_cycle(ws, CycleParams.from_config(ws, base_model="./missing-model", index=False), result=running)
    assert result.status == "failed" and result.stages[3].status == "failed"
    assert "unknown base model" in result.error and cycle_info(ws, running.cycle_id).status == "failed"
