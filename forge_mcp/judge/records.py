"""What validation takes and gives: its parameters, each model's result, each example's, and the report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from forge_mcp.core.config import JudgeConfig
from forge_mcp.core.kinds import GateRule
from forge_mcp.judge.metrics import Scores
from forge_mcp.judge.models import ModelRef


class JudgeParams(JudgeConfig):
    """One validation: which model against which baseline, under the [judge] settings (defaults declared there)."""

    target: str = Field("latest", description="A run id, 'latest', 'deployed' or 'base'")
    baseline: str = Field("auto", description="'auto', 'deployed', 'base', 'none' or a run id")
    base_model: str | None = Field(
        None, description="The base model when target or baseline is 'base' (default: [cycle] base_model)"
    )


class ModelResult(BaseModel):
    model: ModelRef
    scores: Scores
    per_language: dict[str, Scores]
    mean_token_loss: float
    perplexity: float
    generated_tokens: int


class ExampleResult(BaseModel):
    path: str
    symbol: str
    language: str
    prompt: str
    reference: str
    candidate: str
    candidate_codebleu: float
    candidate_loss: float
    baseline: str | None = None
    baseline_codebleu: float | None = None
    baseline_loss: float | None = None


class Timings(BaseModel):
    generation_seconds: float = Field(description="The worker: model loading, generation and perplexity")
    scoring_seconds: float = Field(description="CodeBLEU, exact match and parsing")
    total_seconds: float


class ValidationReport(BaseModel):
    report_id: str
    repo: str
    created_at: float
    dataset_id: str
    passed: bool
    rule: str = Field(description="The rule that decided the verdict, in words")
    gate: GateRule = "absolute"
    perplexity_margin: float = 0.0
    threshold: float
    tolerance: float
    system: str | None = Field(None, description="The system prompt every model was prompted with")
    candidate: ModelResult
    baseline: ModelResult | None
    examples_total: int = Field(description="Examples in the held-out test set")
    held_out: dict[str, Any] | None = Field(None, description="Which commits the test set comes from (the dataset's)")
    examples_used: int = Field(description="Examples scored (a seeded sample when the set is larger)")
    seed: int
    max_tokens: int
    timings: Timings
    examples: list[ExampleResult]
