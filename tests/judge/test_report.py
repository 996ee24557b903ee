"""judge/report.py: the Markdown, the chart and the saved report (files, store record, the run's link), on a
hand-built ValidationReport (tests/judge/test_validate.py makes real ones)."""

from __future__ import annotations

import pytest

from forge_mcp.core import uris
from forge_mcp.core.errors import NotFoundError
from forge_mcp.core.workspace import Workspace
from forge_mcp.judge.models import ModelRef
from forge_mcp.judge.records import ExampleResult, ModelResult, ValidationReport
from forge_mcp.judge.report import SHOWN, list_reports, load_report, markdown, report_file, save_report


def _result(kind: str, name: str, codebleu: float, run_id: str | None = None) -> ModelResult:
    scores = {
        "examples": 5,
        "codebleu": codebleu,
        "ngram_match": 0.1,
        "weighted_ngram_match": 0.2,
        "syntax_match": 0.3,
        "dataflow_match": 0.4,
        "exact_match": 0.0,
        "parse_rate": 1.0,
    }
    return ModelResult.model_validate(
        {
            "model": ModelRef(kind=kind, name=name, run_id=run_id, model_path="/models/tiny"),
            "scores": scores,
            "per_language": {"python": scores},
            "mean_token_loss": 1.0,
            "perplexity": 2.72,
            "generated_tokens": 40,
        }
    )


def _report(passed: bool = True, baseline: bool = True, gate: str = "baseline") -> ValidationReport:
    examples = [
        ExampleResult(
            path=f"pkg/m{i}.py",
            symbol=f"helper_{i}",
            language="python",
            prompt=f"def helper_{i}(x):",
            reference="    return x | 1 < 2\n",
            candidate=f"    return x + {i}\n",
            candidate_codebleu=i / 10,
            candidate_loss=1.0,
            baseline="" if baseline else None,
            baseline_codebleu=0.0 if baseline else None,
        )
        for i in range(5)
    ]
    commits = [{"sha": f"{i:040x}", "subject": f"change {i}", "units": 1} for i in range(10)]
    return ValidationReport(
        report_id="report-test",
        repo="shop",
        created_at=0.0,
        dataset_id="ds-1",
        passed=passed,
        rule="the rule",
        gate=gate,
        perplexity_margin=0.05,
        threshold=0.6,
        tolerance=0.02,
        candidate=_result("run", "run-1", 0.5, "run-1"),
        baseline=_result("base", "tiny", 0.4) if baseline else None,
        examples_total=9,
        examples_used=5,
        seed=3,
        max_tokens=16,
        timings={"generation_seconds": 1.0, "scoring_seconds": 0.5, "total_seconds": 1.5},
        held_out={"commits": commits, "test_units": 10, "skipped_commits": 2},
        examples=examples,
    )


def test_markdown_says_the_verdict_the_rules_and_the_best_and_worst() -> None:
    text = markdown(_report())
    assert text.startswith("# Validation report report-test: PASS\n\n**Verdict: PASS.** the rule.")
    assert "Examples: 5 of 9 (seeded sample, seed 3)" in text
    assert "; and 2 more (2 commit(s) without code skipped)" in text
    assert "Gate `baseline`" in text and "perplexity at least 5% below" in text
    assert "| candidate (run: `run-1`) | 0.500 |" in text and "| baseline (base: `tiny`) | 0.400 |" in text
    assert "| python | 5 | 0.500 |" in text and text.count("#### Best") == SHOWN == text.count("#### Worst")
    assert text.index("Best 1: `helper_4`") < text.index("Worst 1: `helper_0`")
    assert "<pre>    return x &#124; 1 &lt; 2</pre>" in text and "<pre>(empty)</pre>" in text  # escaped; empty baseline
    assert text.rstrip().endswith(f"({uris.report_json('report-test')}).")
    alone = markdown(_report(passed=False, baseline=False, gate="absolute"))
    assert "FAIL" in alone and "| baseline" not in alone and "Gate `absolute`: CodeBLEU ≥ 0.600" in alone
    assert "Baseline |" not in alone


def test_save_report_writes_files_then_the_record_then_the_run_link(repo) -> None:
    ws = Workspace.open(repo.path)
    ws.store.put_record("runs", "run-1", "completed", {"params": {}}, git_commit="abc", dataset_id="ds-1")
    report = _report(gate="absolute")
    save_report(ws, report, ws.state_dir / "reports" / report.report_id)
    assert load_report(ws, "report-test") == report.model_dump(mode="json")
    assert report_file(ws, "report-test", "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert report_file(ws, "report-test", "report.md").read_text() == markdown(report)
    (listed,) = list_reports(ws)
    assert listed["report_id"] == "report-test" and listed["status"] == "passed" and listed["run_id"] == "run-1"
    assert listed["uri"] == "forge://reports/report-test" and listed["baseline_codebleu"] == 0.4
    run = ws.store.get_record("runs", "run-1")
    assert run["data"]["validation"] == {"report_id": "report-test", "passed": True, "codebleu": 0.5}
    assert run["status"] == "completed" and run["git_commit"] == "abc"
    with pytest.raises(NotFoundError):
        report_file(ws, "report-nope", "report.md")
    report_file(ws, "report-test", "chart.png").unlink()
    with pytest.raises(NotFoundError, match="has no chart.png"):
        report_file(ws, "report-test", "chart.png")
