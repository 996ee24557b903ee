"""cycle/stages.py: each stage on its own, on a real repository (the stages that train, validate and deploy
for real run in tests/cycle/test_run.py and tests/cli/test_loop.py)."""

from __future__ import annotations

import time

import pytest

from forge_mcp.core.errors import JobError, NotFoundError
from forge_mcp.core.workspace import Workspace
from forge_mcp.cycle.params import STAGES, CycleParams, CycleResult, Stage
from forge_mcp.cycle.stages import STAGE_FUNCTIONS, chunk_stage, deploy_stage, index_stage, monitor_stage, train_stage
from tests.cycle.test_run import project


def _result(ws: Workspace) -> CycleResult:
    return CycleResult(
        cycle_id="cycle-test",
        repo=ws.name,
        status="running",
        trigger="manual",
        started_at=time.time(),
        stages=[Stage(name=n) for n in STAGES],
    )


def _quiet(done: int, total: int, message: str) -> None:
    pass


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.open(project(tmp_path / "staged").path)


def test_every_stage_has_its_function() -> None:
    assert tuple(STAGE_FUNCTIONS) == STAGES


def test_monitor_then_chunk_fill_in_the_dataset(ws: Workspace) -> None:
    params, result = CycleParams.from_config(ws), _result(ws)
    status, summary = monitor_stage(ws, params, result, _quiet, None)
    assert status == "done" and summary.startswith("2 commit(s), 12 file(s) changed since the start: significant")
    steps: list[str] = []
    status, summary = chunk_stage(ws, params, result, lambda d, t, m: steps.append(m), None)
    assert status == "done" and result.dataset_id and summary.startswith(f"dataset {result.dataset_id}: ")
    assert f"; {params.task} train " in summary and steps


def test_index_stage_off_and_on(ws: Workspace) -> None:
    off = CycleParams.from_config(ws, index=False)
    assert index_stage(ws, off, _result(ws), _quiet, None) == ("skipped", "indexing is off ([cycle] index = false)")
    on = CycleParams.from_config(ws, index=True)
    assert not on.adapt_embedder  # tests/conftest.py turns the embedder's adaptation off
    status, summary = index_stage(ws, on, _result(ws), _quiet, None)
    assert status == "done" and summary == "12 chunks in 12 files (12 embedded now)"


def test_deploy_stage_skips_unless_passed_or_forced(ws: Workspace) -> None:
    result = _result(ws)
    assert deploy_stage(ws, CycleParams.from_config(ws, deploy=False), result, _quiet, None)[0] == "skipped"
    result.passed = False
    status, summary = deploy_stage(ws, CycleParams.from_config(ws), result, _quiet, None)
    assert status == "skipped" and "failed validation" in summary and result.deployment_id is None
    with pytest.raises(NotFoundError, match="no completed training run"):  # forced, but nothing was trained
        deploy_stage(ws, CycleParams.from_config(ws, force_deploy=True, target="llama_cpp"), result, _quiet, None)


def test_train_stage_refuses_an_unknown_base_model_before_any_run(ws: Workspace) -> None:
    params, result = CycleParams.from_config(ws, base_model="no-such-model"), _result(ws)
    chunk_stage(ws, params, result, _quiet, None)
    with pytest.raises(JobError, match="unknown base model 'no-such-model'"):
        train_stage(ws, params, result, _quiet, None)
    assert result.run_id is None and ws.store.list_records("runs") == []
