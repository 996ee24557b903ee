"""judge/models.py: resolving the candidate and the baseline (runs, the deployed model, a base) on one real
tiny run; other run states are its record and run.json copied under another id (no second training)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from forge_mcp.core.errors import NotFoundError
from forge_mcp.core.workspace import Workspace
from forge_mcp.judge.metrics import JudgeError
from forge_mcp.judge.models import baseline_model, candidate_model, newest_dataset, run_model
from forge_mcp.miner.datasets import build_dataset
from tests.conftest import train_tiny
from tests.cycle.test_run import project


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str]:
    ws = Workspace.open(project(tmp_path_factory.mktemp("judge-models") / "judged").path)
    build_dataset(ws)
    run_id = train_tiny(
        ws,
        task="completion",
        compile=False,
        max_seq_length=256,
        batch_size=2,
        iters=2,
        steps_per_report=1,
        steps_per_eval=2,
    )
    return ws, run_id


def _copy_run(ws: Workspace, run_id: str, new_id: str, status: str, **data: object) -> str:
    record = ws.store.get_record("runs", run_id)
    folder = ws.state_dir / "runs" / new_id
    folder.mkdir()
    shutil.copyfile(ws.state_dir / "runs" / run_id / "run.json", folder / "run.json")
    ws.store.put_record(
        "runs", new_id, status, record["data"] | data, git_commit=record["git_commit"], dataset_id=record["dataset_id"]
    )
    return new_id


def test_nothing_to_judge_before_a_dataset_and_a_run(repo) -> None:
    ws = Workspace.open(repo.path)
    with pytest.raises(NotFoundError, match="no dataset yet"):
        newest_dataset(ws)
    with pytest.raises(NotFoundError, match="no completed training run"):
        candidate_model(ws, "latest", "tiny")
    with pytest.raises(NotFoundError, match="nothing is deployed"):
        candidate_model(ws, "deployed", "tiny")
    with pytest.raises(NotFoundError):
        candidate_model(ws, "run-unknown", "tiny")


def test_a_completed_run_is_its_base_plus_its_adapter(trained) -> None:
    ws, run_id = trained
    ref = candidate_model(ws, "latest", "tiny")
    assert ref == candidate_model(ws, run_id, "tiny") == run_model(ws, run_id)
    assert ref.kind == "run" and ref.run_id == ref.name == run_id and ref.adapter_path.endswith(f"{run_id}/adapters")
    assert Path(ref.model_path, "config.json").is_file() and ref.system and ref.dataset_id == newest_dataset(ws)[0]
    base = baseline_model(ws, ref, "auto", newest_dataset(ws)[1])  # nothing deployed: the run's own base
    assert base.kind == "base" and base.model_path == ref.model_path and base.adapter_path is None
    assert base.system == ref.system and baseline_model(ws, ref, "none", newest_dataset(ws)[1]) is None
    with pytest.raises(NotFoundError, match="nothing else is deployed"):
        baseline_model(ws, ref, "deployed", newest_dataset(ws)[1])


def test_the_base_as_candidate_has_no_base_baseline(trained) -> None:
    ws, _ = trained
    ref = candidate_model(ws, "base", "tiny")
    assert ref.kind == "base" and ref.name == "tiny" and ref.adapter_path is None and ws.name in ref.system
    assert baseline_model(ws, ref, "auto", newest_dataset(ws)[1]) is None


def test_runs_training_or_stopped_cannot_be_judged(trained) -> None:
    ws, run_id = trained
    busy = _copy_run(ws, run_id, "run-busy", "running", pid=os.getpid(), step=3)  # a worker that is alive
    with pytest.raises(JudgeError, match="run-busy is still training"):
        run_model(ws, busy)
    cancelled = _copy_run(ws, run_id, "run-cancelled", "cancelled")
    with pytest.raises(JudgeError, match="run-cancelled is cancelled, not completed"):
        candidate_model(ws, cancelled, "tiny")
    ws.store.put_record("runs", busy, "cancelled", ws.store.get_record("runs", busy)["data"])


def test_the_deployed_run_is_the_baseline_of_another_run(trained) -> None:
    ws, run_id = trained
    other = _copy_run(ws, run_id, "run-other", "completed")
    entry = ws.store.append_deployment("deploy", {"target": "llama_cpp", "model": "m"}, run_id=run_id)
    try:
        deployed = candidate_model(ws, "deployed", "tiny")
        assert deployed.kind == "deployed" and deployed.run_id == run_id
        candidate = run_model(ws, other)
        assert baseline_model(ws, candidate, "auto", newest_dataset(ws)[1]) == deployed
        assert baseline_model(ws, candidate, run_id, newest_dataset(ws)[1]).kind == "run"
    finally:
        ws.store.append_deployment("stop", {"target": "llama_cpp"})
    assert entry and baseline_model(ws, candidate, "auto", newest_dataset(ws)[1]).kind == "base"
