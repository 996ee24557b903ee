"""`forge-mcp cycle` (what `make run` runs) on this repository, broken down by stage, with the quality gain.

The cycle runs with the embedded defaults (SmolLM2-135M-Instruct, the budget plan, MiniLM index in embedded
Chroma) on a fresh temporary state folder, so every stage does its full work: the dataset is built, the
index embedded from scratch, the GGUF imported, the run trained, validated against the base, and deployed to
the local llama.cpp server on a free port when the gate passes. Targets (2 cores, OpenBLAS): the whole cycle
in at most 15 minutes, held-out perplexity at least 25 % below the base's, CodeBLEU not below it, deployed.

    python bench/cycle.py [--base-model smollm2-135m] [--iters N] [--force-deploy]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from _common import ROOT, emit_result, print_table

from forge_mcp.core.workspace import Workspace
from forge_mcp.cycle.params import CycleParams
from forge_mcp.cycle.run import run_cycle
from forge_mcp.deploy import llama_server
from forge_mcp.deploy.deploy import list_deployments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-model", help="default: forge.toml [cycle] (smollm2-135m)")
    parser.add_argument("--iters", type=int, help="default: the budget plan's")
    parser.add_argument("--force-deploy", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forge-cycle-bench-"))
    os.environ.setdefault("OLLAMA_HOST", "http://127.0.0.1:9")  # measure the local target, reproducibly
    ws = Workspace.open(ROOT, {"state_dir": str(work / "state"), "deploy": {"llama_port": llama_server.free_port()}})
    try:
        result = run_cycle(
            ws,
            CycleParams.from_config(ws, base_model=args.base_model, iters=args.iters, force_deploy=args.force_deploy),
        )
        report = _report(ws, result.report_id)
    finally:
        for entry in list_deployments(ws):
            llama_server.stop(entry.pid)
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        [s.name, s.status, f"{s.seconds:.1f}", f"{s.seconds / max(result.seconds, 1e-9):.0%}", s.summary[:70]]
        for s in result.stages
    ]
    print_table(
        f"forge-mcp cycle on this repository ({args.base_model or ws.config.cycle.base_model}): {result.status}",
        ["stage", "status", "seconds", "share", "summary"],
        rows + [["total", "", f"{result.seconds:.1f}", "100%", ""]],
    )
    gain = None
    if report and report.get("baseline"):
        cand, base = report["candidate"], report["baseline"]
        gain = 1 - cand["perplexity"] / base["perplexity"]
        print(
            f"held-out perplexity {cand['perplexity']:.3f} vs base {base['perplexity']:.3f} ({gain:.1%} lower; "
            f"target >= 25%), CodeBLEU {cand['scores']['codebleu']:.3f} vs {base['scores']['codebleu']:.3f}, "
            f"{'deployed' if result.deployment_id else 'not deployed'}; plan: {'; '.join(result.plan)}"
        )
    ok = (
        result.status == "completed"
        and result.seconds <= 15 * 60
        and gain is not None
        and gain >= 0.25
        and bool(result.deployment_id)
    )
    print(f"  targets: {'PASS' if ok else 'MISS'}")
    emit_result(
        {
            "bench": "cycle",
            "status": result.status,
            "seconds": result.seconds,
            "passed": result.passed,
            "stages": {s.name: s.seconds for s in result.stages},
            "perplexity_gain": gain,
            "deployed": bool(result.deployment_id),
            "plan": result.budget,
            "report": report and {k: report[k] for k in ("rule", "examples_used", "examples_total")},
        }
    )
    return 0 if ok else 1


def _report(ws: Workspace, report_id: str | None) -> dict | None:
    if not report_id:
        return None
    from forge_mcp.judge.report import load_report

    return load_report(ws, report_id)


if __name__ == "__main__":
    raise SystemExit(main())
