"""CLI commands of the loop's later stages: validate, deploy, rollback, deployments (and the whole cycle).

forge-mcp validate [--repo PATH] [--target RUN|latest|deployed|base] [--baseline B] [--max-examples N] [--json]
forge-mcp deploy [--repo PATH] [--run RUN_ID] [--target auto|ollama|llama_cpp] [--force] [--json]
forge-mcp rollback [--repo PATH] [--to DEPLOYMENT_ID] [--target T] [--json]
forge-mcp deployments [--repo PATH] [--json]
forge-mcp stop [--repo PATH]
forge-mcp cycle [--repo PATH] [--base-model smollm2-135m] [--iters N] [--no-deploy] [--force-deploy] [--json]
"""

from __future__ import annotations

import argparse
import getpass
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from forge_mcp.cli.render import progress_bar
from forge_mcp.core.kinds import GateRule, Method, Target
from forge_mcp.core.workspace import Workspace
from forge_mcp.cycle.params import CycleParams
from forge_mcp.cycle.run import run_cycle
from forge_mcp.deploy.deploy import deploy, list_deployments, rollback, stop_local
from forge_mcp.judge.validate import judge_params, validate

Command = Callable[[argparse.Namespace], int]


def add_commands(sub: Any) -> dict[str, Command]:
    validate = sub.add_parser(
        "validate",
        help="judge a run on the held-out test set (CodeBLEU, perplexity) against the deployed or base model",
    )
    validate.add_argument("--repo", type=Path, default=Path("."))
    validate.add_argument("--target", help="a run id, 'latest' (default), 'deployed' or 'base'")
    validate.add_argument("--baseline", help="'auto' (default), 'deployed', 'base', 'none' or a run id")
    validate.add_argument("--base-model", help="the base model when --target base (default: [cycle] base_model)")
    validate.add_argument(
        "--gate",
        choices=get_args(GateRule),
        help="'baseline' (default): beat the baseline's perplexity; 'absolute': a CodeBLEU bar",
    )
    validate.add_argument("--max-examples", type=int, help="sample size (default forge.toml [judge], 100)")
    validate.add_argument("--max-tokens", type=int, help="tokens per completion (default 256)")
    validate.add_argument("--threshold", type=float, help="CodeBLEU to pass with --gate absolute (default 0.6)")
    validate.add_argument("--tolerance", type=float, help="allowed drop vs the baseline (default 0.02)")
    validate.add_argument("--json", action="store_true", help="print the whole report as JSON")

    deploy = sub.add_parser("deploy", help="fuse, export GGUF, verify in llama.cpp, serve (Ollama or llama.cpp)")
    deploy.add_argument("--repo", type=Path, default=Path("."))
    deploy.add_argument("--run", dest="run_id", default="latest", help="a run id (default: the newest completed)")
    deploy.add_argument("--target", default="auto", choices=get_args(Target))
    deploy.add_argument("--force", action="store_true", help="deploy although validation failed (logged)")
    deploy.add_argument("--json", action="store_true")

    rollback = sub.add_parser("rollback", help="serve an earlier deployment again")
    rollback.add_argument("--repo", type=Path, default=Path("."))
    rollback.add_argument("--to", dest="deployment_id", type=int, help="deployment id (default: the previous one)")
    rollback.add_argument("--target", default="auto", choices=get_args(Target))
    rollback.add_argument("--json", action="store_true")

    stop = sub.add_parser("stop", help="stop the repository's local llama.cpp server (logged)")
    stop.add_argument("--repo", type=Path, default=Path("."))

    deployments = sub.add_parser("deployments", help="the deployment log")
    deployments.add_argument("--repo", type=Path, default=Path("."))
    deployments.add_argument("--json", action="store_true")

    cycle = sub.add_parser("cycle", help="the whole loop: monitor, chunk, index, train, validate, deploy")
    cycle.add_argument("--repo", type=Path, default=Path("."))
    cycle.add_argument(
        "--base-model",
        help="default: forge.toml [cycle] (smollm2-135m); gguf:PATH, ollama:NAME[:TAG], "
        "a local model folder or a hub id",
    )
    cycle.add_argument("--method", choices=get_args(Method))
    cycle.add_argument("--iters", type=int, help="training steps (default: chosen by the budget plan)")
    cycle.add_argument("--target", choices=get_args(Target), help="default: [deploy] target")
    cycle.add_argument("--no-index", action="store_true", help="skip the RAG index stage")
    cycle.add_argument("--no-deploy", action="store_true", help="stop after validation")
    cycle.add_argument(
        "--force-deploy",
        action="store_true",
        help="deploy even if validation fails (recorded as forced in the deployment log)",
    )
    cycle.add_argument("--json", action="store_true")
    return {
        "validate": _validate,
        "deploy": _deploy,
        "rollback": _rollback,
        "deployments": _deployments,
        "cycle": _cycle,
        "stop": _stop,
    }


def _stop(args: argparse.Namespace) -> int:

    print(render_deployment(stop_local(Workspace.open(args.repo.resolve()), actor=_actor())))
    return 0


def _cycle(args: argparse.Namespace) -> int:

    ws = Workspace.open(args.repo.resolve())
    params = CycleParams.from_config(
        ws,
        base_model=args.base_model,
        method=args.method,
        iters=args.iters,
        target=args.target,
        index=False if args.no_index else None,
        deploy=False if args.no_deploy else None,
        force_deploy=args.force_deploy,
    )
    with progress_bar("cycle", enabled=not args.json) as update:
        result = run_cycle(ws, params, progress=update)
    print(result.model_dump_json(indent=2) if args.json else render_cycle(result))
    return 0 if result.status == "completed" else 1


def render_cycle(r: Any) -> str:
    marks = {"done": "ok", "skipped": "--", "failed": "!!", "pending": "  ", "running": ".."}
    lines = [f"cycle {r.cycle_id} on {r.repo}: {r.status} in {r.seconds:.0f}s"]
    lines += [f"  [{marks[s.status]}] {s.name:9} {s.seconds:6.1f}s  {s.summary}" for s in r.stages]
    lines += [f"  plan: {reason}" for reason in r.plan]
    if r.loss_png:
        lines.append(f"  loss curve: {r.loss_png}  ({r.loss_uri}.png)")
    if r.report_path:
        lines.append(f"  validation report: {r.report_path}  ({r.report_uri})")
    if r.deployed_model:
        lines.append(
            f"  deployed: {r.deployed_model} at {r.deployed_url} (deployment #{r.deployment_id}; "
            "forge-mcp deployments, forge-mcp rollback)"
        )
    elif r.passed is False:
        lines.append(
            "  not deployed: the fine-tuned model did not beat the one serving (see the rule above and the "
            "report); nothing changed in service"
        )
    if r.error:
        lines.append(f"  error: {r.error}")
    return "\n".join(lines)


def _actor() -> str:

    return f"cli user {getpass.getuser()}"


def _deploy(args: argparse.Namespace) -> int:

    ws = Workspace.open(args.repo.resolve())
    with progress_bar("deploying", enabled=not args.json) as update:
        entry = deploy(ws, args.run_id, target=args.target, force=args.force, actor=_actor(), progress=update)
    print(entry.model_dump_json(indent=2) if args.json else render_deployment(entry))
    return 0


def _rollback(args: argparse.Namespace) -> int:

    entry = rollback(Workspace.open(args.repo.resolve()), args.deployment_id, target=args.target, actor=_actor())
    print(entry.model_dump_json(indent=2) if args.json else render_deployment(entry))
    return 0


def _deployments(args: argparse.Namespace) -> int:

    entries = list_deployments(Workspace.open(args.repo.resolve()))
    if args.json:
        print(json.dumps([e.model_dump() for e in entries], indent=2))
    for entry in [] if args.json else entries:
        print(render_deployment(entry))
    return 0


def render_deployment(e: Any) -> str:

    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.created_at))
    verdict = {True: "passed", False: "FAILED", None: "not validated"}[e.validation_passed]
    return (
        f"#{e.id} {when} {e.action} {e.model} on {e.target} ({e.url or ''}) run {e.run_id} "
        f"commit {(e.git_commit or '')[:7]}, validation {verdict}"
        + (" [FORCED]" if e.forced else "")
        + (f", back to #{e.rolled_back_to}" if e.rolled_back_to else "")
        + f", by {e.actor}"
    )


def _validate(args: argparse.Namespace) -> int:

    ws = Workspace.open(args.repo.resolve())
    params = judge_params(
        ws.config,
        gate=args.gate,
        target=args.target,
        baseline=args.baseline,
        base_model=args.base_model,
        max_examples=args.max_examples,
        max_tokens=args.max_tokens,
        threshold=args.threshold,
        tolerance=args.tolerance,
    )
    with progress_bar("validating", enabled=not args.json) as update:
        report = validate(ws, params, progress=update)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(render_verdict(report, ws.report_dir(report.report_id)))
    return 0 if report.passed else 1


def render_verdict(report: Any, folder: Path) -> str:
    c, b = report.candidate, report.baseline
    lines = [
        f"{'PASS' if report.passed else 'FAIL'}: {report.rule}",
        f"  candidate {c.model.name}: CodeBLEU {c.scores.codebleu:.3f}, exact {c.scores.exact_match:.3f}, "
        f"parses {c.scores.parse_rate:.3f}, perplexity {c.perplexity:.2f}",
    ]
    if b is not None:
        lines.append(
            f"  baseline  {b.model.name}: CodeBLEU {b.scores.codebleu:.3f}, exact {b.scores.exact_match:.3f}, "
            f"parses {b.scores.parse_rate:.3f}, perplexity {b.perplexity:.2f}"
        )
    lines.append(
        f"  {report.examples_used} of {report.examples_total} held-out examples in "
        f"{report.timings.total_seconds:.1f}s; report: {folder / 'report.md'}"
    )
    return "\n".join(lines)
