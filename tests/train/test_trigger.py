"""trigger.py: planning a run, resolving base models and the system prompt, and the refusals before a worker
starts (no run is trained here: tests/train/test_jobs.py runs workers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge_mcp.core.errors import JobError, NotFoundError, PlanError
from forge_mcp.core.workspace import Workspace
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.train.formatting import system_prompt
from forge_mcp.train.params import TrainParams
from forge_mcp.train.trigger import check_plan, model_shape, plan_run, resolve_base_model, system_for, trigger_training
from tests.cycle.test_run import project


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace.open(project(tmp_path_factory.mktemp("trigger") / "planned").path)
    build_dataset(workspace)
    return workspace


def _dataset_path(ws: Workspace) -> Path:
    return ws.state_dir / "datasets" / ws.store.list_records("datasets")[0]["id"]


def test_plan_run_layers_the_plan_config_and_arguments(ws: Workspace) -> None:
    params, profile = plan_run(ws, {"base_model": "tiny", "iters": 3, "learning_rate": None, "task": "instruction"})
    assert params.iters == 3 and params.base_model == "tiny" and params.task == "instruction"
    assert params.learning_rate == profile.learning_rate and params.num_layers == profile.num_layers  # the plan's
    assert params.dataset_id == ws.store.list_records("datasets")[0]["id"] and profile.reasons
    assert ws.store.list_records("runs") == []  # planning starts nothing


def test_no_dataset_yet_is_not_found(make_repo) -> None:
    repo = make_repo("empty")
    repo.commit("code", {"a.py": "def f():\n    return 1\n"})
    with pytest.raises(NotFoundError, match="chunk_data"):
        plan_run(Workspace.open(repo.path), {"base_model": "tiny"})


def test_a_batch_larger_than_the_training_set_is_refused(ws: Workspace) -> None:
    with pytest.raises(JobError, match="fewer than batch_size 1024"):
        trigger_training(ws, TrainParams(base_model="tiny", batch_size=1024))
    assert ws.store.list_records("runs") == []


def test_resolve_base_model(ws: Workspace) -> None:
    data = _dataset_path(ws)
    tiny = resolve_base_model(ws, "tiny", data)
    assert tiny.parent == ws.state_dir / "models" and (tiny / "config.json").is_file()
    assert resolve_base_model(ws, "tiny", data) == tiny  # built once, from the dataset's text
    assert resolve_base_model(ws, "mlx-community/SomeModel-4bit", data) == Path("mlx-community/SomeModel-4bit")
    with pytest.raises(JobError, match="unknown base model 'no-such-model'"):
        resolve_base_model(ws, "no-such-model", data)
    (ws.repo_root / "notamodel").mkdir()
    with pytest.raises(JobError, match="not an mlx-lm model folder"):
        resolve_base_model(ws, "./notamodel", data)


def test_system_for_prefers_the_user_then_the_ollama_original(ws: Workspace, tmp_path: Path) -> None:
    assert system_for(ws, tmp_path) == system_prompt(ws.name) and ws.name in system_for(ws, tmp_path)
    (tmp_path / "ollama.json").write_text(json.dumps({"name": "coder", "system": "Be terse."}))
    assert system_for(ws, tmp_path) == "Be terse."
    mine = Workspace.open(ws.repo_root, {"deploy": {"system": "You help with planned."}})
    assert system_for(mine, tmp_path) == "You help with planned."


def test_model_shape_and_check_plan() -> None:
    assert model_shape(TrainParams(base_model="tiny"), None).name == "tiny"
    assert model_shape(TrainParams(base_model="mlx-community/Qwen2.5-Coder-0.5B-Instruct-4bit"), None) is not None
    assert model_shape(TrainParams(base_model="someone/unknown"), None) is None
    check_plan(TrainParams(base_model="tiny", max_seq_length=256), None)
    with pytest.raises(PlanError, match="GiB"):
        check_plan(TrainParams(base_model="smollm2-135m", max_seq_length=131_072, batch_size=1024), None)
