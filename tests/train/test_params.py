"""TrainParams (validation, defaults, the adapter spec it implies) and the run folder's layout (RunPaths)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from forge_mcp.train.params import ACTIVE, RunPaths, TrainParams


def test_defaults_round_trip_and_unknown_fields_are_refused() -> None:
    params = TrainParams()
    assert (params.method, params.base_model, params.task) == ("lora", "smollm2-135m", "completion")
    assert params.num_layers == -1 and not params.rora
    assert TrainParams.model_validate_json(params.model_dump_json()) == params
    with pytest.raises(ValidationError, match="extra"):
        TrainParams(iterations=10)  # a typo is an error, not a silently ignored setting
    for bad in (
        {"iters": 0},
        {"learning_rate": 0.0},
        {"dropout": 1.0},
        {"num_layers": -2},
        {"max_seq_length": 8},
        {"divergence_factor": 1.0},
        {"method": "full"},
    ):
        with pytest.raises(ValidationError):
            TrainParams(**bad)


def test_adapter_spec_carries_the_adapter_settings() -> None:
    spec = TrainParams(method="dora", rank=4, alpha=8.0, rora=True, dropout=0.1, num_layers=2).adapter_spec()
    assert (spec.method, spec.rank, spec.alpha, spec.rora) == ("dora", 4, 8.0, True)
    assert (spec.dropout, spec.num_layers) == (0.1, 2)


def test_run_paths_lay_out_the_run_folder(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path / "run-1")
    assert paths.root == tmp_path / "run-1"
    assert {p.name for p in (paths.params, paths.run, paths.log, paths.adapters, paths.best, paths.loss_png)} == {
        "params.json",
        "run.json",
        "worker.log",
        "adapters",
        "best",
        "loss.png",
    }
    assert paths.latest == tmp_path / "run-1" / "checkpoints" / "LATEST" and paths.latest.parent == paths.checkpoints
    assert ACTIVE == ("queued", "running")
