"""Training runs in real worker processes, on the tiny model and a real repository's dataset."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from forge_mcp.core.errors import JobError, NotFoundError
from forge_mcp.core.workspace import Workspace
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.train.jobs import cancel_run, loss_series, resume_run, run_info
from forge_mcp.train.params import TrainParams
from forge_mcp.train.trigger import trigger_training
from tests.conftest import wait_until

FAST = {
    "base_model": "tiny",
    "task": "instruction",
    "compile": False,
    "max_seq_length": 256,
    "batch_size": 2,
    "steps_per_report": 5,
    "steps_per_eval": 20,
}


@pytest.fixture
def ws(code_repo) -> Workspace:
    workspace = Workspace.open(code_repo.path)
    build_dataset(workspace)
    return workspace


def _wait(
    ws: Workspace,
    run_id: str,
    done: tuple[str, ...] = ("completed", "failed", "cancelled", "diverged"),
    timeout: float = 240,
):
    assert wait_until(lambda: run_info(ws, run_id).status in done, timeout=timeout, interval=0.2), run_info(ws, run_id)
    return run_info(ws, run_id)


def test_a_run_trains_records_and_saves_a_loadable_adapter(ws: Workspace) -> None:
    started = time.monotonic()
    info = trigger_training(ws, TrainParams(iters=40, learning_rate=1e-3, **FAST))
    assert time.monotonic() - started < 30 and info.status in ("queued", "running")  # returns at once
    info = _wait(ws, info.run_id)
    assert info.status == "completed", Path(info.log_path).read_text()[-2000:]
    series = loss_series(ws, info.run_id)
    train = [p["loss"] for p in series["train"]]
    assert [p["step"] for p in series["train"]] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert train[-1] < train[0] and info.best_val_loss is not None
    assert [p["step"] for p in series["val"]] == [0, 20, 40]  # at the start, every steps_per_eval, at the end
    assert all(p["tokens_per_second"] > 0 and p["learning_rate"] > 0 for p in series["train"])
    import mlx_lm

    run_dir = ws.state_dir / "runs" / info.run_id
    model_path = next((ws.state_dir / "models").glob("tiny-*"))
    model, _ = mlx_lm.load(str(model_path), adapter_path=str(run_dir / "adapters"))
    assert (run_dir / "adapters" / "forge_params.json").is_file() and (
        run_dir / "best" / "adapters.safetensors"
    ).is_file()
    assert {"optimizer.safetensors", "state.json"} <= {p.name for p in (run_dir / "best").iterdir()}
    assert ws.last_trained_commit == ws.store.get_record("runs", info.run_id)["git_commit"]


def test_one_run_at_a_time_and_cancel(ws: Workspace) -> None:
    info = trigger_training(ws, TrainParams(iters=5000, learning_rate=1e-4, **FAST))
    assert wait_until(lambda: run_info(ws, info.run_id).step >= 5, timeout=120, interval=0.2)
    with pytest.raises(JobError, match="already training"):
        trigger_training(ws, TrainParams(iters=10, **FAST))
    cancelled = cancel_run(ws, info.run_id)
    assert cancelled.status == "cancelled" and cancelled.resumable
    with pytest.raises(JobError, match="not running"):
        cancel_run(ws, info.run_id)


def test_kill_9_then_resume_continues_from_the_checkpoint(ws: Workspace) -> None:
    info = trigger_training(ws, TrainParams(iters=60, learning_rate=1e-3, **FAST))
    assert wait_until(lambda: run_info(ws, info.run_id).step >= 15, timeout=120, interval=0.1)
    os.kill(ws.store.get_record("runs", info.run_id)["data"]["pid"], signal.SIGKILL)
    killed = _wait(ws, info.run_id, done=("failed",), timeout=30)
    assert killed.resumable and "died" in (killed.error or "")
    checkpoint = int((ws.state_dir / "runs" / info.run_id / "checkpoints" / "LATEST").read_text().split("-")[1])
    before = {p["step"]: p["loss"] for p in loss_series(ws, info.run_id)["train"]}
    resumed = resume_run(ws, info.run_id)
    assert resumed.status in ("queued", "running")
    done = _wait(ws, info.run_id)
    assert done.status == "completed" and done.step == 60
    after = loss_series(ws, info.run_id)["train"]
    steps = [p["step"] for p in after]
    assert steps == sorted(set(steps)) and steps[-1] == 60
    first_new = next(p for p in after if p["step"] > checkpoint)
    assert first_new["step"] == checkpoint + 5  # the step counter went on from the checkpoint
    assert first_new["loss"] < before[5] + 0.5  # the loss continued rather than starting over
    assert first_new["learning_rate"] < after[0]["learning_rate"]  # so did the cosine schedule
    validated = {p["step"] for p in loss_series(ws, info.run_id)["val"]}
    assert {40, 60} <= validated <= {0, 20, 40, 60}  # the run's own validation schedule, not shifted by the resume


def test_divergence_halts_the_run(ws: Workspace) -> None:
    params = TrainParams(iters=200, learning_rate=1e20, divergence_factor=1.5, **(FAST | {"steps_per_report": 1}))
    info = _wait(ws, trigger_training(ws, params).run_id)
    assert info.status == "diverged", info
    assert "jumped" in (info.error or "") or "became" in (info.error or "")
    assert info.step < 200


def test_bad_arguments(ws: Workspace, make_repo) -> None:
    from forge_mcp.core.errors import JobError as Job

    with pytest.raises(Job, match="unknown base model"):
        trigger_training(ws, TrainParams(**(FAST | {"base_model": "not-a-model"})))
    with pytest.raises(NotFoundError):
        trigger_training(ws, TrainParams(dataset_id="ds-missing", **FAST))
    empty = Workspace.open(make_repo("nothing").path)
    with pytest.raises(NotFoundError, match="chunk_data"):
        trigger_training(empty, TrainParams(**FAST))
    with pytest.raises(ValueError):
        TrainParams(method="full-finetune")


def test_a_loss_spike_over_the_moving_average_halts(tmp_path: Path) -> None:
    from forge_mcp.train.worker import Stop, _Callback

    callback = _Callback.__new__(_Callback)
    callback.params = TrainParams(divergence_factor=2.0)
    callback.recent = [2.0, 1.9, 1.8]
    callback._check_divergence(40, 3.5)  # 1.8x the average: noisy, not divergent
    with pytest.raises(Stop, match="jumped to 4.200 at step 50"):
        callback._check_divergence(50, 4.2)
    with pytest.raises(Stop, match="became nan"):
        callback._check_divergence(60, float("nan"))


def test_a_plan_that_does_not_fit_is_refused_with_the_numbers(ws: Workspace) -> None:
    from forge_mcp.core.errors import PlanError

    with pytest.raises(PlanError, match=r"needs [\d.]+ GiB .* but 85% of this machine's [\d.]+ GiB is [\d.]+ GiB"):
        trigger_training(ws, TrainParams(**(FAST | {"max_seq_length": 131_072})))
    assert ws.store.list_records("runs") == []  # nothing was started or recorded
