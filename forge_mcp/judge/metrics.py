"""Scoring completions: CodeBLEU (with its four components), exact match, the share that parses, and the
pass/fail rules that compare a candidate with a baseline. Pure functions; the generation lives elsewhere."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from forge_mcp.core.errors import JudgeError, quoted
from forge_mcp.core.kinds import GateRule
from forge_mcp.miner.languages import LANGUAGES, parser_for

# codebleu 0.7 ships grammars for these; TypeScript is scored with the JavaScript grammar (a superset
# for what CodeBLEU looks at: tokens, AST node types and data flow).
CODEBLEU_LANGS = {
    "python": "python",
    "javascript": "javascript",
    "typescript": "javascript",
    "tsx": "javascript",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "ruby": "ruby",
}


class Scores(BaseModel):
    examples: int
    codebleu: float = Field(description="CodeBLEU in [0, 1] (0.25 each: n-gram, weighted n-gram, syntax, data flow)")
    ngram_match: float
    weighted_ngram_match: float
    syntax_match: float
    dataflow_match: float
    exact_match: float = Field(description="Share of completions equal to the reference (whitespace-normalised)")
    parse_rate: float = Field(description="Share of prompt + completion that parses without syntax errors")


def _normalise(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def codebleu(references: Sequence[str], predictions: Sequence[str], language: str) -> dict[str, float]:
    """Corpus-level CodeBLEU and its components for one language."""
    if not references or len(references) != len(predictions):
        raise JudgeError(f"need as many predictions as references (got {len(predictions)} for {len(references)})")
    lang = CODEBLEU_LANGS.get(language)
    if lang is None:
        raise JudgeError(f"CodeBLEU does not support {quoted(language)}; supported: {sorted(CODEBLEU_LANGS)}")
    from codebleu import calc_codebleu

    _quiet_codebleu()
    result = calc_codebleu(list(references), list(predictions), lang=lang)
    return {k: float(v) for k, v in result.items()}


def _quiet_codebleu() -> None:
    """codebleu logs a root-logger warning whenever a snippet has no data flow (most one-line bodies);
    its score already says so, and a report scores hundreds of snippets."""
    root = logging.getLogger()
    if not any(isinstance(f, _NoDataflowWarning) for f in root.filters):
        root.addFilter(_NoDataflowWarning())


class _NoDataflowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "no reference data-flows" not in record.getMessage()


def parses(code: str, language: str) -> bool:
    """True when tree-sitter parses `code` without an ERROR or MISSING node."""

    if language not in LANGUAGES:
        raise JudgeError(f"no parser for {quoted(language)}")
    return not parser_for(language).parse(code.encode("utf-8")).root_node.has_error


def standalone(code: str) -> str:
    """A body dedented, so CodeBLEU's parse-based components see code that stands on its own."""
    return textwrap.dedent(code.strip("\n")).strip()


def example_codebleu(reference: str, prediction: str, language: str) -> float:
    """Sentence-level CodeBLEU of one completion (0 for an empty one, which CodeBLEU itself rates 0.25)."""
    if not standalone(prediction):
        return 0.0
    return codebleu([standalone(reference)], [standalone(prediction)], language)["codebleu"]


def score(prompts: Sequence[str], references: Sequence[str], predictions: Sequence[str], language: str) -> Scores:
    """All metrics for completions of one language: CodeBLEU and exact match on the dedented bodies,
    parsing on prompt + completion (what must parse is the whole unit; an empty completion does not count)."""
    parts = codebleu([standalone(r) for r in references], [standalone(p) for p in predictions], language)
    n = len(references)
    exact = sum(_normalise(r) == _normalise(p) for r, p in zip(references, predictions, strict=False)) / n
    parsed = (
        sum(bool(standalone(pd)) and parses(pr + pd, language) for pr, pd in zip(prompts, predictions, strict=False))
        / n
    )
    return Scores(
        examples=n,
        codebleu=parts["codebleu"],
        ngram_match=parts["ngram_match_score"],
        weighted_ngram_match=parts["weighted_ngram_match_score"],
        syntax_match=parts["syntax_match_score"],
        dataflow_match=parts["dataflow_match_score"],
        exact_match=exact,
        parse_rate=parsed,
    )


@dataclass(frozen=True)
class Verdict:
    passed: bool
    rule: str  # which rule decided, in words a report can show


@dataclass(frozen=True)
class Side:
    """The two figures the gate reads from one model's results."""

    codebleu: float
    perplexity: float


@dataclass(frozen=True)
class Gate:
    """`baseline` (default): better than what is serving. `absolute`: a CodeBLEU bar, for large models."""

    rule: GateRule = "baseline"
    perplexity_margin: float = 0.05
    threshold: float = 0.6
    tolerance: float = 0.02


def decide(candidate: Side, baseline: Side | None, gate: Gate = Gate()) -> Verdict:
    """Pass or fail, with the rule that decided in words."""
    if gate.rule == "absolute" or baseline is None:
        return _absolute(candidate, baseline, gate)
    bar = baseline.perplexity * (1 - gate.perplexity_margin)
    if candidate.perplexity > bar:
        return Verdict(
            False,
            f"held-out perplexity {candidate.perplexity:.3f} does not beat the baseline's "
            f"{baseline.perplexity:.3f} by the margin {gate.perplexity_margin:.0%} "
            f"(needs at most {bar:.3f})",
        )
    if candidate.codebleu < baseline.codebleu - gate.tolerance:
        return Verdict(
            False,
            f"perplexity {candidate.perplexity:.3f} beats the baseline's {baseline.perplexity:.3f}, "
            f"but CodeBLEU {candidate.codebleu:.3f} is below the baseline's "
            f"{baseline.codebleu:.3f} by more than the tolerance {gate.tolerance:.3f}",
        )
    gain = 1 - candidate.perplexity / baseline.perplexity if baseline.perplexity else 0.0
    return Verdict(
        True,
        f"held-out perplexity {candidate.perplexity:.3f} is {gain:.0%} below the baseline's "
        f"{baseline.perplexity:.3f} (margin {gate.perplexity_margin:.0%}) and CodeBLEU "
        f"{candidate.codebleu:.3f} is within {gate.tolerance:.3f} of the baseline's "
        f"{baseline.codebleu:.3f} or better",
    )


def _absolute(candidate: Side, baseline: Side | None, gate: Gate) -> Verdict:
    """CodeBLEU reaches the threshold and is not worse than the baseline beyond the tolerance."""
    where = "" if gate.rule == "absolute" else " (no baseline to compare with, so the absolute rule applies)"
    if candidate.codebleu < gate.threshold:
        return Verdict(False, f"CodeBLEU {candidate.codebleu:.3f} is below the threshold {gate.threshold:.3f}{where}")
    if baseline is not None and candidate.codebleu < baseline.codebleu - gate.tolerance:
        return Verdict(
            False,
            f"CodeBLEU {candidate.codebleu:.3f} is worse than the baseline's "
            f"{baseline.codebleu:.3f} by more than the tolerance {gate.tolerance:.3f}",
        )
    against = (
        ""
        if baseline is None
        else (f" and within {gate.tolerance:.3f} of the baseline's {baseline.codebleu:.3f} or better")
    )
    return Verdict(
        True, f"CodeBLEU {candidate.codebleu:.3f} reaches the threshold {gate.threshold:.3f}{against}{where}"
    )
