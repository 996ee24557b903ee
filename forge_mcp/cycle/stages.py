"""The stages of a cycle, each a thin call into its pipeline module. Each returns (status, one-line summary)
and fills in what later stages and the final summary need (dataset, run, report, deployment)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from forge_mcp.core import uris
from forge_mcp.core.errors import AdaptError, JobError
from forge_mcp.core.fsutil import atomic_write_bytes
from forge_mcp.core.kinds import Progress
from forge_mcp.core.workspace import Workspace
from forge_mcp.cycle.params import CycleParams, CycleResult
from forge_mcp.deploy.deploy import deploy
from forge_mcp.index.adapt import adapt_index
from forge_mcp.index.rag import RagIndex
from forge_mcp.judge.validate import judge_params, validate
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.monitor.changes import monitor
from forge_mcp.train.jobs import active_run, loss_series, run_info
from forge_mcp.train.params import ACTIVE, RunPaths
from forge_mcp.train.plots import loss_png
from forge_mcp.train.trigger import plan_run, trigger_training

Outcome = tuple[Literal["done", "skipped"], str]
POLL = 0.5  # seconds between looks at a training run


def monitor_stage(ws: Workspace, params: CycleParams, result: CycleResult, progress: Progress, rag: Any) -> Outcome:

    report = monitor(ws)
    sig = report.significance
    verdict = "significant" if sig.significant else "not significant"
    since = {"last_trained": "the last trained commit", "since": "the given ref", "none": "the start"}[
        report.base_source
    ]
    return "done", (
        f"{report.commit_count} commit(s), {report.files_changed} file(s) changed since {since}: "
        f"{verdict} ({'; '.join(sig.reasons) or 'no reasons'})"
    )


def chunk_stage(ws: Workspace, params: CycleParams, result: CycleResult, progress: Progress, rag: Any) -> Outcome:

    summary = build_dataset(ws, progress=progress)
    result.dataset_id = summary.dataset_id
    split = summary.splits.get(params.task, {})
    chunks = sum(summary.chunks_by_kind.values())
    return "done", (
        f"dataset {summary.dataset_id}: {chunks} chunks; {params.task} train "
        f"{split.get('train', 0)}, valid {split.get('valid', 0)}, test {split.get('test', 0)}"
    )


def index_stage(ws: Workspace, params: CycleParams, result: CycleResult, progress: Progress, rag: Any) -> Outcome:
    if not params.index:
        return "skipped", "indexing is off ([cycle] index = false)"

    index = rag or RagIndex(ws)
    sync = index.sync(progress=progress)
    done = f"{sync.chunks} chunks in {sync.files_indexed} files ({sync.chunks_embedded} embedded now)"
    if not (params.adapt_embedder or ws.config.index.adapt):
        return "done", done
    try:
        a = adapt_index(index, progress=progress)
    except AdaptError as exc:  # too few pairs, another embedder: the stock index serves, and the summary says why
        return "done", f"{done}; embedder not adapted: {exc}"
    return "done", (
        f"{done}; embedder {'reused' if a.reused else 'adapted'}: {a.embedder} ({a.pairs} pairs, "
        f"{a.train.get('train_seconds', 0):.0f} s training, {a.reembedded} chunks re-embedded)"
    )


def train_stage(ws: Workspace, params: CycleParams, result: CycleResult, progress: Progress, rag: Any) -> Outcome:

    while (busy := active_run(ws)) is not None:  # queued behind a run already training
        progress(0, 1, f"waiting for run {busy.run_id} ({busy.step}/{busy.iters})")
        time.sleep(POLL)
    progress(0, 1, f"planning: importing {params.base_model} and measuring the dataset")
    train, profile = plan_run(
        ws,
        params.model_dump(
            include={
                "method",
                "base_model",
                "task",
                "iters",
                "batch_size",
                "learning_rate",
                "num_layers",
                "max_seq_length",
                "compile",
            }
        )
        | {"dataset_id": result.dataset_id},
    )
    result.plan, result.budget = profile.reasons, profile.model_dump()
    info = trigger_training(ws, train, plan=profile.model_dump())
    result.run_id, result.loss_uri = info.run_id, info.loss_uri
    while (info := run_info(ws, info.run_id)).status in ACTIVE:
        progress(
            info.step,
            info.iters,
            f"run {info.run_id} step {info.step}/{info.iters}"
            + (f", loss {info.last_train_loss:.3f}" if info.last_train_loss is not None else ""),
        )
        time.sleep(POLL)
    result.loss_png = str(_write_loss_png(ws, info.run_id, RunPaths(ws.run_dir(info.run_id)).loss_png))
    if info.status != "completed":
        raise JobError(f"run {info.run_id} {info.status}: {info.error or 'see its log ' + info.log_path}")
    best = f", best val loss {info.best_val_loss:.3f}" if info.best_val_loss is not None else ""
    return "done", f"run {info.run_id}: {info.method} on {info.base_model}, {info.step} steps{best}"


def _write_loss_png(ws: Workspace, run_id: str, path: Any) -> Any:

    atomic_write_bytes(path, loss_png(loss_series(ws, run_id)))
    return path


def validate_stage(ws: Workspace, params: CycleParams, result: CycleResult, progress: Progress, rag: Any) -> Outcome:

    cfg = ws.config.judge
    # The budget plan sizes validation on CPU, unless forge.toml or the environment set the size.
    planned = {
        k: (result.budget or {})[k]
        for k in ("max_examples", "max_tokens")
        if result.budget and k not in cfg.model_fields_set
    }
    report = validate(ws, judge_params(ws.config, target=result.run_id or "latest", **planned), progress=progress)
    result.report_id, result.passed = report.report_id, report.passed
    result.report_uri = uris.report(report.report_id)
    result.report_path = str(ws.report_dir(report.report_id) / "report.md")
    return "done", f"{'PASS' if report.passed else 'FAIL'}: {report.rule}"


def deploy_stage(ws: Workspace, params: CycleParams, result: CycleResult, progress: Progress, rag: Any) -> Outcome:
    if not params.deploy:
        return "skipped", "deployment is off ([cycle] deploy = false)"
    if not result.passed and not params.force_deploy:
        return "skipped", (
            "not deployed: the run failed validation (a failing run is never deployed unless the user forces it)"
        )

    entry = deploy(
        ws,
        result.run_id or "latest",
        target=params.target,
        force=params.force_deploy,
        actor=f"forge-mcp cycle ({params.trigger})",
        progress=progress,
    )
    result.deployment_id, result.deployed_model, result.deployed_url = entry.id, entry.model, entry.url
    return "done", (f"{entry.model} on {entry.target} ({entry.url})" + (" [forced]" if entry.forced else ""))


STAGE_FUNCTIONS: dict[str, Callable[..., Outcome]] = {
    "monitor": monitor_stage,
    "chunk": chunk_stage,
    "index": index_stage,
    "train": train_stage,
    "validate": validate_stage,
    "deploy": deploy_stage,
}
