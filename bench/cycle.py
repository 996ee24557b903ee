"""`forge-mcp cycle` wall time on this repository with the tiny model, broken down by stage.

The cycle runs with the embedded defaults (tiny model, 200 LoRA steps, 100 held-out examples, MiniLM
index in embedded Chroma) on a fresh temporary state folder, so every stage does its full work: the
dataset is built, the index embedded from scratch, the run trained, validated, and (with --force-deploy,
as `make run` does for the offline demo) deployed to the local llama.cpp server on a free port.

    python bench/cycle.py [--iters 200] [--force-deploy]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from _common import ROOT, emit_result, print_table

from forge_mcp.cycle import CycleParams, run_cycle
from forge_mcp.deploy import llama_server
from forge_mcp.deploy.deploy import list_deployments
from forge_mcp.workspace import Workspace


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--force-deploy", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forge-cycle-bench-"))
    os.environ.setdefault("OLLAMA_HOST", "http://127.0.0.1:9")  # measure the local target, reproducibly
    ws = Workspace.open(ROOT, {"state_dir": str(work / "state"),
                               "deploy": {"llama_port": llama_server.free_port()}})
    try:
        result = run_cycle(ws, CycleParams.from_config(ws, iters=args.iters, force_deploy=args.force_deploy))
    finally:
        for entry in list_deployments(ws):
            llama_server.stop(entry.pid)
        shutil.rmtree(work, ignore_errors=True)
    rows = [[s.name, s.status, f"{s.seconds:.1f}", f"{s.seconds / max(result.seconds, 1e-9):.0%}", s.summary[:70]]
            for s in result.stages]
    print_table(f"forge-mcp cycle on this repository (tiny model, {args.iters} steps): {result.status}",
                ["stage", "status", "seconds", "share", "summary"], rows + [["total", "", f"{result.seconds:.1f}",
                                                                            "100%", ""]])
    emit_result({"bench": "cycle", "status": result.status, "seconds": result.seconds,
                 "stages": {s.name: s.seconds for s in result.stages}})
    return 0 if result.status == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
