"""`validate_model`: generate completions of the held-out test set in a worker, score them, compare the
candidate with its baseline on the same examples, decide pass/fail, and write the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from forge_mcp.core.config import ForgeConfig
from forge_mcp.core.errors import JudgeError
from forge_mcp.core.fsutil import atomic_write_json
from forge_mcp.core.kinds import Progress
from forge_mcp.core.workspace import Workspace
from forge_mcp.judge.metrics import Gate, Scores, Side, decide, example_codebleu, score
from forge_mcp.judge.models import ModelRef, baseline_model, candidate_model, newest_dataset
from forge_mcp.judge.records import ExampleResult, JudgeParams, ModelResult, Timings, ValidationReport
from forge_mcp.judge.report import save_report
from forge_mcp.judge.units import Example, load_examples
from forge_mcp.train.jobs import openblas_path


def judge_params(config: ForgeConfig, **given: Any) -> JudgeParams:
    """Arguments given (not None) over the [judge] section (and [cycle] base_model): the one place the tool, the
    CLI and the cycle resolve their judge settings."""
    fields = {k: v for k, v in given.items() if v is not None}
    return JudgeParams(**(config.judge.model_dump() | {"base_model": config.cycle.base_model} | fields))


def validate(ws: Workspace, params: JudgeParams, progress: Progress | None = None) -> ValidationReport:
    started = time.perf_counter()
    candidate = candidate_model(ws, params.target, params.base_model or ws.config.cycle.base_model)
    dataset_id, dataset_path = _dataset_of(ws, candidate)
    baseline = baseline_model(ws, candidate, params.baseline, dataset_path)
    examples, total = load_examples(dataset_path, params.max_examples, params.seed)
    report_id = time.strftime("report-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    folder = ws.report_dir(report_id)
    models = [("candidate", candidate)] + ([("baseline", baseline)] if baseline else [])
    raw = generate(folder, models, examples, params.max_tokens, progress, system=candidate.system)
    generated = time.perf_counter()
    results = {label: _score(ref, raw[label], examples) for label, ref in models}
    per_example = _per_example(examples, raw, models)
    scored = time.perf_counter()
    base_result = results.get("baseline")
    verdict = decide(
        _side(results["candidate"]),
        _side(base_result) if base_result else None,
        Gate(params.gate, params.perplexity_margin, params.threshold, params.tolerance),
    )
    report = ValidationReport(
        report_id=report_id,
        repo=ws.name,
        created_at=time.time(),
        dataset_id=dataset_id,
        passed=verdict.passed,
        rule=verdict.rule,
        gate=params.gate,
        perplexity_margin=params.perplexity_margin,
        threshold=params.threshold,
        tolerance=params.tolerance,
        system=candidate.system,
        candidate=results["candidate"],
        baseline=base_result,
        examples_total=total,
        examples_used=len(examples),
        seed=params.seed,
        held_out=_held_out(dataset_path),
        max_tokens=params.max_tokens,
        examples=per_example,
        timings=Timings(
            generation_seconds=round(generated - started, 3),
            scoring_seconds=round(scored - generated, 3),
            total_seconds=round(time.perf_counter() - started, 3),
        ),
    )
    save_report(ws, report, folder)
    return report


def _held_out(dataset_path: Path) -> dict[str, Any] | None:
    manifest = dataset_path / "manifest.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8"))["summary"].get("held_out")


def _side(result: ModelResult) -> Side:
    return Side(codebleu=result.scores.codebleu, perplexity=result.perplexity)


def _dataset_of(ws: Workspace, model: ModelRef) -> tuple[str, Path]:
    if model.dataset_id is None:
        return newest_dataset(ws)
    path = ws.dataset_dir(model.dataset_id)
    if not path.is_dir():
        raise JudgeError(
            f"dataset {model.dataset_id} of {model.name} is gone: run chunk_data again and validate a run trained on it"
        )
    return model.dataset_id, path


def generate(
    folder: Path,
    models: list[tuple[str, ModelRef]],
    examples: list[Example],
    max_tokens: int,
    progress: Progress | None,
    system: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the generation worker; relay its progress; return its results per model label. Every model is
    prompted with the same system prompt: the candidate's, the one it will serve with."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        folder / "job.json",
        {
            "models": [{"label": label, "model": ref.model_path, "adapter": ref.adapter_path} for label, ref in models],
            "examples": [{"prompt": e.prompt, "reference": e.reference, "language": e.language} for e in examples],
            "max_tokens": max_tokens,
            "system": system,
        },
    )
    env = dict(os.environ)
    if openblas_path() and "LD_PRELOAD" not in env:
        env["LD_PRELOAD"] = openblas_path() or ""
    total = 2 * len(examples) * len(models)  # the worker reports generation, then perplexity, per model
    with open(folder / "worker.log", "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-P", "-m", "forge_mcp.judge.worker", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
        assert child.stdout is not None
        offset = {label: 2 * i * len(examples) for i, (label, _) in enumerate(models)}
        for line in child.stdout:
            event = _event(line)
            if event.get("event") == "progress" and progress is not None:
                done = offset.get(event["label"], 0) + int(event["done"])
                progress(done, total, f"generating: {event['label']} {event['done']}/{event['total']}")
        code = child.wait()
    if code != 0 or not (folder / "results.json").is_file():
        tail = (folder / "worker.log").read_text(encoding="utf-8", errors="replace")[-1500:]
        raise JudgeError(f"the generation worker failed (exit {code}); its log ends with:\n{tail}")
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))


def _event(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}  # a library printed something: not ours
    return value if isinstance(value, dict) else {}


def _score(ref: ModelRef, raw: dict[str, Any], examples: list[Example]) -> ModelResult:
    by_language: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_language[example.language].append(i)
    per_language = {
        lang: score(
            [examples[i].prompt for i in idx],
            [examples[i].reference for i in idx],
            [raw["completions"][i] for i in idx],
            lang,
        )
        for lang, idx in sorted(by_language.items())
    }
    return ModelResult(
        model=ref,
        scores=_pooled(per_language),
        per_language=per_language,
        mean_token_loss=raw["mean_token_loss"],
        perplexity=raw["perplexity"],
        generated_tokens=sum(raw["generated_tokens"]),
    )


def _pooled(per_language: dict[str, Scores]) -> Scores:
    """Across languages: each metric weighted by the language's number of examples."""
    n = sum(s.examples for s in per_language.values())
    fields = [f for f in Scores.model_fields if f != "examples"]
    return Scores(examples=n, **{f: sum(getattr(s, f) * s.examples for s in per_language.values()) / n for f in fields})


def _per_example(
    examples: list[Example], raw: dict[str, dict[str, Any]], models: list[tuple[str, ModelRef]]
) -> list[ExampleResult]:
    labels = [label for label, _ in models]
    rows = []
    for i, example in enumerate(examples):
        values: dict[str, Any] = {}
        for label in labels:
            text = raw[label]["completions"][i]
            values[label] = text
            values[f"{label}_codebleu"] = example_codebleu(example.reference, text, example.language)
            values[f"{label}_loss"] = raw[label]["token_losses"][i]
        rows.append(
            ExampleResult(
                path=example.path,
                symbol=example.symbol,
                language=example.language,
                prompt=example.prompt,
                reference=example.reference,
                **values,
            )
        )
    return rows
