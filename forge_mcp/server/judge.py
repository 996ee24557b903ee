"""MCP tool and resources of the judge (thin wrappers over forge_mcp.judge)."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from forge_mcp.core import uris
from forge_mcp.core.kinds import GateRule
from forge_mcp.judge.records import ValidationReport
from forge_mcp.judge.report import list_reports, report_file
from forge_mcp.judge.validate import judge_params, validate
from forge_mcp.server.services import Forge
from forge_mcp.server.tools import RepoArg, across_repos, forge_tool, progress_reporter, tool_annotations, tool_errors


class ValidationSummary(BaseModel):
    """The verdict and headline metrics; the full report is at `report_uri` (Markdown), `json_uri`, `chart_uri`."""

    report_id: str
    passed: bool
    rule: str = Field(description="The rule that decided the verdict")
    candidate: str
    codebleu: float
    perplexity: float
    exact_match: float
    parse_rate: float
    baseline: str | None
    baseline_codebleu: float | None
    baseline_perplexity: float | None
    gate: str = Field(description="baseline (better than what is serving) or absolute (a CodeBLEU bar)")
    threshold: float
    tolerance: float
    examples_used: int
    examples_total: int
    seconds: float
    report_uri: str
    json_uri: str
    chart_uri: str


def register_judge(server: MCPServer, forge: Forge) -> None:
    @forge_tool(server, tool_annotations("Validate a model on held-out recent code", read_only=False, idempotent=False))
    async def validate_model(
        ctx: Context,
        target: Annotated[
            str | None,
            Field(
                description="A run id, 'latest' (newest completed run; the default), 'deployed', or 'base' (the base "
                "model alone)"
            ),
        ] = None,
        baseline: Annotated[
            str | None,
            Field(
                description="'auto' (the deployed model, else the candidate's base), "
                "'deployed', 'base', 'none', or a run id (default: auto)"
            ),
        ] = None,
        base_model: Annotated[
            str | None,
            Field(max_length=4096, description="The base model when target is 'base' (default: [cycle] base_model)"),
        ] = None,
        gate: Annotated[
            GateRule | None,
            Field(
                description="'baseline' (default): held-out perplexity must beat the baseline's by "
                "[judge] perplexity_margin and CodeBLEU not drop beyond the tolerance; "
                "'absolute': CodeBLEU must also reach the threshold (7B-class models)"
            ),
        ] = None,
        max_examples: Annotated[
            int | None,
            Field(ge=1, le=100_000, description="Sample size (seeded); default forge.toml [judge] max_examples (100)"),
        ] = None,
        max_tokens: Annotated[
            int | None, Field(ge=8, le=8192, description="Tokens per completion (default 256)")
        ] = None,
        threshold: Annotated[
            float | None, Field(ge=0, le=1, description="CodeBLEU to pass with gate 'absolute' (default 0.6)")
        ] = None,
        tolerance: Annotated[
            float | None, Field(ge=0, le=1, description="Allowed drop vs the baseline (default 0.02)")
        ] = None,
        repo: RepoArg = None,
    ) -> ValidationSummary:
        """Judge a model on the held-out test set (functions from the most recent commits, never trained on).

        Generates completions (greedy, in the model's chat template, stopped at the end of the unit) for
        the candidate and its baseline on the same examples in a worker process, then scores CodeBLEU
        (with its four components), exact match, the share that parses, and perplexity. Passes when
        the candidate's held-out perplexity beats the baseline's (the deployed model, else the base) by
        the margin and its CodeBLEU is not below the baseline's beyond the tolerance. Writes
        a report (`forge://reports/{report_id}` Markdown, `/json`, `/chart.png`) linked to the run.
        Reports progress; on 2 CPU cores SmolLM2 takes about 3 s per example and model.
        """
        with tool_errors():
            ws, progress = forge.workspace(repo), progress_reporter(ctx)
            params = judge_params(
                ws.config,
                target=target,
                baseline=baseline,
                base_model=base_model,
                gate=gate,
                max_examples=max_examples,
                max_tokens=max_tokens,
                threshold=threshold,
                tolerance=tolerance,
            )
            report = await anyio.to_thread.run_sync(lambda: validate(ws, params, progress=progress))
            return summarize(report)

    @server.resource(
        uris.REPORTS,
        name="reports",
        mime_type="application/json",
        description="Validation reports of every repository, newest first: verdict, CodeBLEU, run.",
    )
    def reports() -> str:

        return across_repos(forge, list_reports)

    @server.resource(
        uris.REPORT,
        mime_type="text/markdown",
        description="A validation report in Markdown: verdict and the rule that decided it, metrics of "
        "the candidate and the baseline, best and worst examples beside their references.",
    )
    def report_markdown(report_id: str) -> str:
        return _file(forge, report_id, "report.md").decode("utf-8")

    @server.resource(
        uris.REPORT_JSON,
        mime_type="application/json",
        description="A validation report as JSON, with every example's completions and scores.",
    )
    def report_json(report_id: str) -> str:
        return _file(forge, report_id, "report.json").decode("utf-8")

    @server.resource(
        uris.REPORT_CHART,
        mime_type="image/png",
        description="Candidate vs baseline per metric, as a PNG bar chart.",
    )
    def report_chart(report_id: str) -> bytes:
        return _file(forge, report_id, "chart.png")


def _file(forge: Forge, report_id: str, name: str) -> bytes:

    with tool_errors():
        return report_file(forge.workspace_of("reports", report_id), report_id, name).read_bytes()


def summarize(report: ValidationReport) -> ValidationSummary:
    c, b = report.candidate, report.baseline
    return ValidationSummary(
        report_id=report.report_id,
        passed=report.passed,
        rule=report.rule,
        candidate=c.model.name,
        codebleu=c.scores.codebleu,
        perplexity=c.perplexity,
        exact_match=c.scores.exact_match,
        parse_rate=c.scores.parse_rate,
        baseline=b.model.name if b else None,
        baseline_codebleu=b.scores.codebleu if b else None,
        baseline_perplexity=b.perplexity if b else None,
        gate=report.gate,
        threshold=report.threshold,
        tolerance=report.tolerance,
        examples_used=report.examples_used,
        examples_total=report.examples_total,
        seconds=report.timings.total_seconds,
        report_uri=uris.report(report.report_id),
        json_uri=uris.report_json(report.report_id),
        chart_uri=uris.report_chart(report.report_id),
    )
