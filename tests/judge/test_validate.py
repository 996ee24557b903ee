"""The judge end to end: a real tiny run, generation in a real worker, a complete report."""

from __future__ import annotations

import pytest

from forge_mcp.core.errors import JudgeError, NotFoundError
from forge_mcp.core.workspace import Workspace
from forge_mcp.judge.records import JudgeParams
from forge_mcp.judge.report import list_reports, load_report, report_file
from forge_mcp.judge.validate import validate
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.train.params import TrainParams
from tests.conftest import FAST_TINY_RUN, train_tiny


def test_a_report_for_a_tiny_run_is_complete_and_readable(code_repo) -> None:
    ws = Workspace.open(code_repo.path)
    summary = build_dataset(ws)
    assert summary.splits["completion"]["test"] > 0
    run_id = train_tiny(ws, **FAST_TINY_RUN)
    steps: list[tuple[int, int]] = []
    report = validate(
        ws,
        JudgeParams(target=run_id, max_tokens=24, max_examples=3, gate="absolute"),
        progress=lambda done, total, _msg: steps.append((done, total)),
    )
    assert report.candidate.model.run_id == run_id and report.baseline is not None
    assert report.baseline.model.kind == "base" and report.baseline.model.adapter_path is None
    assert report.examples_used == min(3, report.examples_total) and len(report.examples) == report.examples_used
    assert steps and steps[-1][0] == steps[-1][1] == 4 * report.examples_used  # 2 models x (generate, perplexity)
    assert report.candidate.perplexity > 1 and report.candidate.mean_token_loss > 0
    assert 0 <= report.candidate.scores.codebleu <= 1 and not report.passed  # a tiny model writes no real code
    assert "below the threshold" in report.rule and report.gate == "absolute"
    md = report_file(ws, report.report_id, "report.md").read_text()
    for needle in (
        "FAIL",
        "## Metrics",
        "candidate",
        "baseline",
        "perplexity",
        "## Best examples",
        "## Worst examples",
        "Reference",
        report.dataset_id,
    ):
        assert needle in md, needle
    assert report_file(ws, report.report_id, "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert load_report(ws, report.report_id)["examples"][0]["reference"]
    assert ws.store.get_record("runs", run_id)["data"]["validation"]["report_id"] == report.report_id
    assert list_reports(ws)[0]["run_id"] == run_id
    assert report.timings.generation_seconds > 0 and report.timings.scoring_seconds > 0
    # The default gate compares perplexities: the same examples decide it, in its own words.
    again = validate(ws, JudgeParams(target=run_id, max_tokens=24, max_examples=3))
    assert again.gate == "baseline" and "perplexity" in again.rule and again.baseline is not None
    bar = again.baseline.perplexity * (1 - again.perplexity_margin)
    codebleu_ok = again.candidate.scores.codebleu >= again.baseline.scores.codebleu - again.tolerance
    assert again.passed is (again.candidate.perplexity <= bar and codebleu_ok)


def test_clear_errors(code_repo, make_repo) -> None:
    ws = Workspace.open(code_repo.path)
    with pytest.raises(NotFoundError, match="no dataset"):
        validate(ws, JudgeParams(target="base"))
    build_dataset(ws)
    with pytest.raises(NotFoundError, match="no completed training run"):
        validate(ws, JudgeParams(target="latest"))
    with pytest.raises(NotFoundError, match="no run with id"):
        validate(ws, JudgeParams(target="run-nope"))
    ws.store.put_record(
        "runs",
        "run-busy",
        "running",
        {"params": TrainParams().model_dump(), "step": 3, "pid": __import__("os").getpid()},
    )
    with pytest.raises(JudgeError, match="still training"):
        validate(ws, JudgeParams(target="run-busy"))
    empty = make_repo("empty-tests")
    empty.commit("one file", {"a.py": "def f(x):\n    '''Return x doubled, carefully.'''\n    return x * 2 + 0\n"})
    ews = Workspace.open(empty.path)
    ews.config.miner.held_out_commits = 0
    build_dataset(ews)
    with pytest.raises(JudgeError, match="empty test set"):
        validate(ews, JudgeParams(target="base"))
