"""Does fine-tuning help on a repository's own recent changes? The base model against each adapter method.

A throwaway `git clone` of `--repo` (its `.forge/` is never touched) is mined into a dataset whose test
split is the held-out recent code-changing commits. The budget plan is made once (`plan_run`); every
method then trains with that same plan (same iters, num_layers, max_seq_length, learning_rate, batch,
seed: equal steps and tokens, only `method` differs), with a validation loss every iters // 8 steps.
The base model is validated once and each run once (`baseline='none'`), all on the same seeded sample
of held-out examples, and the deltas against the base are computed here.

Per model: held-out perplexity, CodeBLEU and its four components (n-gram, weighted n-gram, syntax, data
flow), exact match and parse rate; per run also training wall time, training tokens/s, trained tokens,
and the first validation step at which the run reaches LoRA's final validation loss (None if never:
this tests PiSSA's claimed 3-5x faster convergence). A validation step counts the updates done before it
(mlx-lm evaluates before its step: 0, iters // 8 - 1, ..., iters - 1).

    python bench/quality.py --repo PATH [--methods lora,dora,pissa] [--iters N] [--examples N]
        [--max-tokens N] [--budget-minutes M] [--base smollm2-135m] [--val-batches N] [--seed 0] [--json]

Defaults for iters, examples and max tokens are the plan's choices for `--budget-minutes` (else the
repository's [cycle] budget_minutes). Ends with `RESULT {json}`; `--json` prints only the JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit_result, git, print_table

from forge_mcp.core.errors import ForgeError
from forge_mcp.core.workspace import Workspace
from forge_mcp.judge.records import ValidationReport
from forge_mcp.judge.validate import judge_params, validate
from forge_mcp.miner.datasets import DatasetSummary, build_dataset
from forge_mcp.train.budget import Profile
from forge_mcp.train.jobs import cancel_run, loss_series, run_info
from forge_mcp.train.params import ACTIVE, TrainParams
from forge_mcp.train.trigger import plan_run, trigger_training

METHODS = ("lora", "dora", "qlora", "pissa", "qpissa")
SCORES = (
    "codebleu",
    "ngram_match",
    "weighted_ngram_match",
    "syntax_match",
    "dataflow_match",
    "exact_match",
    "parse_rate",
)
POLL_S = 0.5
LOG = sys.stderr  # progress goes to stderr so that --json leaves stdout to the JSON


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, required=True, help="any git repository with enough history")
    parser.add_argument("--methods", default="lora,dora,pissa", help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--base", default="smollm2-135m", help="base model (default: the shipped SmolLM2-135M)")
    parser.add_argument("--iters", type=int, default=None, help="training steps (default: the plan's)")
    parser.add_argument("--examples", type=int, default=None, help="held-out examples validated (default: the plan's)")
    parser.add_argument("--max-tokens", type=int, default=None, help="tokens per completion (default: the plan's)")
    parser.add_argument("--budget-minutes", type=float, default=None, help="the plan's [cycle] budget_minutes")
    parser.add_argument("--val-batches", type=int, default=None, help="validation batches per evaluation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out sample")
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown or not args.methods:
        parser.error(f"unknown method(s) {unknown or args.methods}: pick from {', '.join(METHODS)}")
    if len(set(args.methods)) != len(args.methods):
        parser.error("a method is listed twice")
    return args


def log(message: str) -> None:
    print(message, file=LOG, flush=True)


def clone_repo(source: Path, work: Path) -> tuple[Path, Path, str]:
    """Clone the repository containing `source` at its HEAD into work/<its name> (the name is in the system
    prompt); return (repository root, clone, commit)."""
    if not source.is_dir():
        raise SystemExit(f"--repo {source}: no such directory")
    try:
        root = Path(git(source, "rev-parse", "--show-toplevel").strip())
        commit = git(root, "rev-parse", "HEAD").strip()
    except RuntimeError as exc:
        raise SystemExit(f"--repo {source} is not a git repository with a commit: {exc}") from exc
    commits = int(git(root, "rev-list", "--count", "HEAD").strip())
    if commits < 2:
        raise SystemExit(
            f"--repo {root} has {commits} commit: held-out recent changes need some history "
            "(at least two commits, and code-changing ones among the recent)"
        )
    dest = work / root.name
    git(work, "clone", "--quiet", "--no-checkout", str(root), str(dest))
    git(dest, "checkout", "--quiet", "--detach", commit)
    return root, dest, commit


def build(ws: Workspace, batch_size: int) -> DatasetSummary:
    """The dataset of the clone's HEAD, refused with the reason when it cannot support the comparison."""
    summary = build_dataset(ws)
    split = summary.splits.get("completion", {})
    if split.get("test", 0) == 0:
        raise SystemExit(
            f"{ws.repo_root.name}: no held-out completion examples ({summary.held_out_commits} "
            f"held-out commits, stop reason '{summary.held_out.reason}'): the repository needs recent "
            "commits that change functions, methods or classes"
        )
    if split.get("train", 0) < batch_size:
        raise SystemExit(
            f"{ws.repo_root.name}: {split.get('train', 0)} completion training examples, fewer than "
            f"the batch size {batch_size}: not enough code outside the held-out commits"
        )
    return summary


def plan(ws: Workspace, args: argparse.Namespace) -> tuple[TrainParams, Profile]:
    """One plan for every method: the budget plan's choices, --iters over them."""
    params, profile = plan_run(ws, {"base_model": args.base, "iters": args.iters, "method": "lora"})
    update: dict[str, Any] = {"steps_per_eval": max(params.iters // 8, 1)}
    if args.val_batches is not None:
        update["val_batches"] = args.val_batches
    return params.model_copy(update=update), profile


def wait_run(ws: Workspace, run_id: str, timeout_s: float) -> None:
    """Poll until the run leaves queued/running; stop past `timeout_s` (the caller cancels the run)."""
    deadline, last = time.monotonic() + timeout_s, -1
    while (info := run_info(ws, run_id)).status in ACTIVE:
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} still training at step {info.step}/{info.iters} after {timeout_s:.0f} s")
        if info.step != last and info.step:
            log(f"  {info.method} step {info.step}/{info.iters} loss {info.last_train_loss}")
            last = info.step
        time.sleep(POLL_S)
    if info.status != "completed":
        raise SystemExit(f"run {run_id} ({info.method}) {info.status}: {info.error} (log: {info.log_path})")


def train_method(ws: Workspace, params: TrainParams, method: str, timeout_s: float) -> dict[str, Any]:
    """Train one method with the shared plan; its run id, timings, throughput and validation curve."""
    log(f"training {method}: {params.iters} steps")
    started = time.perf_counter()
    info = trigger_training(ws, params.model_copy(update={"method": method}))
    try:
        wait_run(ws, info.run_id, timeout_s)
    except BaseException:  # interrupted or failed: never leave a worker training in a folder about to go
        if run_info(ws, info.run_id).status in ACTIVE:
            cancel_run(ws, info.run_id)
        raise
    wall = time.perf_counter() - started
    record = ws.store.get_record("runs", info.run_id)
    rows = [r for r in ws.store.metrics(info.run_id) if r["kind"] == "train"]
    val = [(p["step"], p["loss"]) for p in loss_series(ws, info.run_id)["val"]]
    worker_s = float(record["data"].get("finished_at", time.time())) - float(record["created_at"])
    tokens = int(rows[-1]["trained_tokens"]) if rows else 0
    rates = [float(r["tokens_per_second"]) for r in rows[1:]] or [float(r["tokens_per_second"]) for r in rows]
    final = run_info(ws, info.run_id)
    return {
        "run_id": info.run_id,
        "train_wall_seconds": round(wall, 1),
        "worker_seconds": round(worker_s, 1),
        "trained_tokens": tokens,
        "tokens_per_second": round(statistics.median(rates)) if rates else None,
        "tokens_per_second_overall": round(tokens / worker_s) if worker_s > 0 else None,
        "peak_memory_gb": final.peak_memory_gb,
        "final_val_loss": val[-1][1] if val else None,
        "best_val_loss": final.best_val_loss,
        "val_curve": val,
    }


def judge(ws: Workspace, target: str, args: argparse.Namespace, profile: Profile) -> ValidationReport:
    """Validate one model alone (baseline 'none') on the shared seeded sample of held-out examples."""
    log(f"validating {target}")
    examples = args.examples if args.examples is not None else profile.max_examples
    tokens = args.max_tokens if args.max_tokens is not None else profile.max_tokens
    return validate(
        ws,
        judge_params(
            ws.config,
            target=target,
            baseline="none",
            base_model=args.base,
            max_examples=examples,
            max_tokens=tokens,
            seed=args.seed,
        ),
    )


def figures(report: ValidationReport) -> dict[str, Any]:
    c = report.candidate
    return {
        "perplexity": round(c.perplexity, 4),
        "mean_token_loss": round(c.mean_token_loss, 4),
        **{k: round(getattr(c.scores, k), 4) for k in SCORES},
        "examples": c.scores.examples,
        "generated_tokens": c.generated_tokens,
        "validation_seconds": report.timings.total_seconds,
    }


def versus_base(model: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Deltas (model - base) of every score, and the perplexity and CodeBLEU ratios (model / base)."""
    out: dict[str, Any] = {f"{k}_delta": round(model[k] - base[k], 4) for k in SCORES}
    out["perplexity_delta"] = round(model["perplexity"] - base["perplexity"], 4)
    out["perplexity_ratio"] = round(model["perplexity"] / base["perplexity"], 4) if base["perplexity"] else None
    out["codebleu_ratio"] = round(model["codebleu"] / base["codebleu"], 4) if base["codebleu"] else None
    return out


def convergence(runs: dict[str, dict[str, Any]], reference: str) -> None:
    """Per run, the first validation step at or below the reference's final validation loss, and the
    reference's steps divided by it (a speed-up; > 1 is faster than the reference)."""
    target = runs[reference]["final_val_loss"]
    ref_steps = _first_reaching(runs[reference]["val_curve"], target)
    for run in runs.values():
        steps = _first_reaching(run["val_curve"], target)
        run["steps_to_reference_final"] = steps
        run["convergence_speedup"] = round(ref_steps / steps, 2) if steps and ref_steps else None


def _first_reaching(curve: list[tuple[int, float]], target: float | None) -> int | None:
    if target is None:
        return None
    return next((step for step, loss in curve if loss <= target), None)


def run_all(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    source, clone, commit = clone_repo(args.repo.resolve(), work)
    overrides: dict[str, Any] = {"state_dir": str(work / ".forge-state")}
    if args.budget_minutes is not None:
        overrides["cycle"] = {"budget_minutes": args.budget_minutes}
    ws = Workspace.open(clone, overrides)
    t0 = time.perf_counter()
    summary = build(ws, ws.config.cycle.batch_size)
    t1 = time.perf_counter()
    params, profile = plan(ws, args)
    t2 = time.perf_counter()
    log(
        f"dataset {summary.dataset_id}: {summary.splits['completion']}; plan: {params.iters} steps, "
        f"{params.num_layers} layers, seq {params.max_seq_length}, lr {params.learning_rate}"
    )
    timeout = 600 + 4 * profile.estimated_train_seconds * params.iters / max(profile.iters, 1)
    runs = {m: train_method(ws, params, m, timeout) for m in args.methods}
    base = figures(judge(ws, "base", args, profile))
    models: dict[str, dict[str, Any]] = {"base": base}
    for method, run in runs.items():
        models[method] = figures(judge(ws, run["run_id"], args, profile)) | run
        models[method]["vs_base"] = versus_base(models[method], base)
    reference = "lora" if "lora" in runs else args.methods[0]
    convergence({m: models[m] for m in runs}, reference)
    return {
        "bench": "quality",
        "repo": str(source),
        "commit": commit,
        "base": args.base,
        "dataset": {
            "id": summary.dataset_id,
            "completion_splits": summary.splits["completion"],
            "held_out_commits": summary.held_out_commits,
        },
        "plan": {
            **params.model_dump(exclude={"method", "dataset_id"}),
            "budget_minutes": profile.budget_minutes,
            "reasons": profile.reasons,
        },
        "convergence_reference": reference,
        "models": models,
        "wall_seconds": {
            "dataset": round(t1 - t0, 1),
            "plan": round(t2 - t1, 1),
            **{f"train_{m}": r["train_wall_seconds"] for m, r in runs.items()},
            **{f"validate_{m}": v["validation_seconds"] for m, v in models.items()},
            "total": round(time.perf_counter() - started, 1),
        },
    }


def print_report(out: dict[str, Any]) -> None:
    models, plan_ = out["models"], out["plan"]
    base = models["base"]
    n = base["examples"]
    print_table(
        f"held-out quality on {Path(out['repo']).name}@{out['commit'][:10]} ({n} examples, base "
        f"{out['base']}; {plan_['iters']} steps, {plan_['num_layers']} layers, seq {plan_['max_seq_length']}, "
        f"lr {plan_['learning_rate']:g}, batch {plan_['batch_size']})",
        ["model", "ppl", "ppl/base", "CodeBLEU", "Δ base", "ngram", "w-ngram", "syntax", "dataflow", "exact", "parse"],
        [
            [
                name,
                f"{m['perplexity']:.3f}",
                f"{m['vs_base']['perplexity_ratio']:.3f}" if "vs_base" in m else "1.000",
                f"{m['codebleu']:.4f}",
                f"{m['vs_base']['codebleu_delta']:+.4f}" if "vs_base" in m else "",
                *(f"{m[k]:.4f}" for k in SCORES[1:5]),
                f"{m['exact_match']:.3f}",
                f"{m['parse_rate']:.3f}",
            ]
            for name, m in models.items()
        ],
    )
    runs = {k: v for k, v in models.items() if k != "base"}
    ref = out["convergence_reference"]
    print_table(
        f"training (same plan; steps to {ref}'s final val loss {_fmt(runs[ref]['final_val_loss'])})",
        ["method", "train s", "tokens/s", "tokens", "final val", "best val", f"steps to {ref}", "speed-up"],
        [
            [
                m,
                f"{r['train_wall_seconds']:.1f}",
                r["tokens_per_second"],
                r["trained_tokens"],
                _fmt(r["final_val_loss"]),
                _fmt(r["best_val_loss"]),
                r["steps_to_reference_final"],
                r["convergence_speedup"],
            ]
            for m, r in runs.items()
        ],
    )
    steps = sorted({s for r in runs.values() for s, _ in r["val_curve"]})
    curves = {m: dict(r["val_curve"]) for m, r in runs.items()}
    print_table(
        "validation loss by step", ["step", *runs], [[s, *(_fmt(curves[m].get(s)) for m in runs)] for s in steps]
    )
    print("wall seconds: " + ", ".join(f"{k} {v}" for k, v in out["wall_seconds"].items()))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="forge-quality-bench-"))
    try:
        out = run_all(args, work)
    except ForgeError as exc:
        raise SystemExit(f"quality bench: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0
    print_report(out)
    emit_result(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
