"""Validation reports: JSON (everything, per-example results included), Markdown (for people and agents),
a PNG chart (candidate vs baseline per metric); recorded in the store and linked to the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forge_mcp.core import uris
from forge_mcp.core.errors import NotFoundError
from forge_mcp.core.fsutil import atomic_write_bytes, atomic_write_text
from forge_mcp.core.workspace import Workspace
from forge_mcp.judge.records import ExampleResult, ModelResult, ValidationReport
from forge_mcp.train.plots import png_of

METRICS = (
    "codebleu",
    "ngram_match",
    "weighted_ngram_match",
    "syntax_match",
    "dataflow_match",
    "exact_match",
    "parse_rate",
)
SHOWN = 3  # best and worst examples in the Markdown


def save_report(ws: Workspace, report: ValidationReport, folder: Path) -> None:
    """Files first, then the store record, then the run's link: a reader never finds a record without files."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "report.json", report.model_dump_json(indent=2))
    atomic_write_text(folder / "report.md", markdown(report))
    atomic_write_bytes(folder / "chart.png", chart_png(report))
    summary = {
        "passed": report.passed,
        "rule": report.rule,
        "candidate": report.candidate.model.name,
        "codebleu": report.candidate.scores.codebleu,
        "baseline_codebleu": report.baseline.scores.codebleu if report.baseline else None,
        "perplexity": report.candidate.perplexity,
        "baseline_perplexity": report.baseline.perplexity if report.baseline else None,
        "dataset_id": report.dataset_id,
        "examples_used": report.examples_used,
    }
    run_id = report.candidate.model.run_id
    ws.store.put_record("reports", report.report_id, "passed" if report.passed else "failed", summary, run_id=run_id)
    if run_id:
        record = ws.store.get_record("runs", run_id)
        data = record["data"] | {
            "validation": {
                "report_id": report.report_id,
                "passed": report.passed,
                "codebleu": report.candidate.scores.codebleu,
            }
        }
        ws.store.put_record(
            "runs", run_id, record["status"], data, git_commit=record["git_commit"], dataset_id=record["dataset_id"]
        )


def report_file(ws: Workspace, report_id: str, name: str) -> Path:
    ws.store.get_record("reports", report_id)  # NotFoundError for an unknown id
    path = ws.report_dir(report_id) / name
    if not path.is_file():
        raise NotFoundError(f"report {report_id} has no {name} (its folder was removed?)")
    return path


def list_reports(ws: Workspace, limit: int = 100) -> list[dict[str, Any]]:
    return [
        {
            "report_id": r["id"],
            "status": r["status"],
            "run_id": r["run_id"],
            "created_at": r["created_at"],
            "uri": uris.report(r["id"]),
            **r["data"],
        }
        for r in ws.store.list_records("reports", limit=limit)
    ]


def _row(name: str, result: ModelResult | None) -> str:
    if result is None:
        return ""
    s = result.scores
    return (
        f"| {name} ({result.model.kind}: `{result.model.name}`) | {s.codebleu:.3f} | {s.ngram_match:.3f} | "
        f"{s.weighted_ngram_match:.3f} | {s.syntax_match:.3f} | {s.dataflow_match:.3f} | {s.exact_match:.3f} | "
        f"{s.parse_rate:.3f} | {result.perplexity:.2f} |\n"
    )


def _example(rank: str, ex: ExampleResult) -> str:
    lang = ex.language
    text = (
        f"#### {rank}: `{ex.symbol or '?'}` in `{ex.path}` (CodeBLEU {ex.candidate_codebleu:.3f}"
        + (f", baseline {ex.baseline_codebleu:.3f}" if ex.baseline_codebleu is not None else "")
        + ")\n\n"
        f"Prompt:\n```{lang}\n{ex.prompt.rstrip()}\n```\n\n"
        f"| Reference | Candidate |" + (" Baseline |" if ex.baseline is not None else "") + "\n"
        "|---|---|" + ("---|" if ex.baseline is not None else "") + "\n"
        f"| {_cell(ex.reference)} | {_cell(ex.candidate)} |"
        + (f" {_cell(ex.baseline)} |" if ex.baseline is not None else "")
        + "\n\n"
    )
    return text


def _cell(code: str | None) -> str:
    """Code in a table cell: <pre> with line breaks, pipes escaped."""
    body = (code or "").rstrip().replace("&", "&amp;").replace("<", "&lt;").replace("|", "&#124;")
    return "<pre>" + (body.replace("\n", "<br>") or "(empty)") + "</pre>"


def markdown(r: ValidationReport) -> str:
    verdict = "PASS" if r.passed else "FAIL"
    out = [
        f"# Validation report {r.report_id}: {verdict}\n\n",
        f"**Verdict: {verdict}.** {r.rule}.\n\n",
        f"- Repository: `{r.repo}`; dataset `{r.dataset_id}` (held-out test set: units from the most recent "
        f"commits, never trained on)\n",
        f"- Examples: {r.examples_used} of {r.examples_total}"
        + (f" (seeded sample, seed {r.seed})" if r.examples_used < r.examples_total else "")
        + "\n",
        _held(r),
        _rules(r),
        f"- Greedy decoding, at most {r.max_tokens} tokens, stopped at the end of the unit\n",
        f"- Time: {r.timings.total_seconds:.1f} s (generation {r.timings.generation_seconds:.1f} s, scoring "
        f"{r.timings.scoring_seconds:.1f} s)\n\n",
        "## Metrics\n\n| Model | CodeBLEU | n-gram | weighted n-gram | syntax | data flow | exact | parses | "
        "perplexity |\n|---|---|---|---|---|---|---|---|---|\n",
        _row("candidate", r.candidate),
        _row("baseline", r.baseline),
        "\n![candidate vs baseline](chart.png)\n\n## Per language (candidate)\n\n"
        "| Language | Examples | CodeBLEU | exact | parses |\n|---|---|---|---|---|\n",
    ]
    out += [
        f"| {lang} | {s.examples} | {s.codebleu:.3f} | {s.exact_match:.3f} | {s.parse_rate:.3f} |\n"
        for lang, s in r.candidate.per_language.items()
    ]
    ranked = sorted(r.examples, key=lambda e: e.candidate_codebleu, reverse=True)
    out.append("\n## Best examples\n\n")
    out += [_example(f"Best {i}", ex) for i, ex in enumerate(ranked[:SHOWN], start=1)]
    out.append("## Worst examples\n\n")
    out += [_example(f"Worst {i}", ex) for i, ex in enumerate(reversed(ranked[-SHOWN:]), start=1)]
    out.append(f"Every example's result is in the JSON report ({uris.report_json(r.report_id)}).\n")
    return "".join(out)


def _held(r: ValidationReport) -> str:
    held = r.held_out or {}
    commits = held.get("commits") or []
    if not commits:
        return ""
    listed = "; ".join(f"`{c['sha'][:7]}` {c['subject'][:60]} ({c['units']} units)" for c in commits[:8])
    more = f"; and {len(commits) - 8} more" if len(commits) > 8 else ""
    skipped = held.get("skipped_commits") or 0
    return (
        f"- Held out: {held.get('test_units', 0)} units from {len(commits)} code-changing commit(s): {listed}{more}"
        + (f" ({skipped} commit(s) without code skipped)" if skipped else "")
        + "\n"
    )


def _rules(r: ValidationReport) -> str:
    if r.gate == "baseline":
        return (
            f"- Gate `baseline` (better than what is serving): held-out perplexity at least "
            f"{r.perplexity_margin:.0%} below the baseline's; CodeBLEU not below the baseline's by more than "
            f"{r.tolerance:.3f}\n"
        )
    return f"- Gate `absolute`: CodeBLEU ≥ {r.threshold:.3f}; not below the baseline by more than {r.tolerance:.3f}\n"


def chart_png(r: ValidationReport) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        xs = range(len(METRICS))
        models = [("candidate", r.candidate)] + ([("baseline", r.baseline)] if r.baseline else [])
        width = 0.8 / len(models)
        for i, (label, result) in enumerate(models):
            values = [getattr(result.scores, m) for m in METRICS]
            ax.bar([x + i * width for x in xs], values, width, label=f"{label}: {result.model.name}")
        if r.gate == "absolute":
            ax.axhline(r.threshold, color="red", linestyle="--", linewidth=1, label=f"threshold {r.threshold:.2f}")
        ax.set_xticks([x + width * (len(models) - 1) / 2 for x in xs])
        ax.set_xticklabels([m.replace("_", "\n") for m in METRICS], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{r.report_id}: {'PASS' if r.passed else 'FAIL'}")
        ax.legend(fontsize=8)

        return png_of(fig)
    finally:
        plt.close(fig)


def load_report(ws: Workspace, report_id: str) -> dict[str, Any]:
    return json.loads(report_file(ws, report_id, "report.json").read_text(encoding="utf-8"))
