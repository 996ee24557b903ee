"""Validation wall time per 100 held-out examples on the tiny model, and the share spent in generation
(the worker: model loading, greedy decoding, perplexity) vs scoring (CodeBLEU, exact match, parsing).

This repository is chunked into a temporary state folder, a short LoRA run trains the tiny model, and
`validate` judges it against its base on 100 held-out examples (candidate and baseline both generate).

    python bench/validation.py [--examples 100] [--max-tokens 256] [--iters 30]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit_result, print_table

from forge_mcp.core.workspace import Workspace
from forge_mcp.judge.records import JudgeParams
from forge_mcp.judge.validate import validate
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.train.jobs import run_info
from forge_mcp.train.params import TrainParams
from forge_mcp.train.trigger import trigger_training


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--held-out", type=int, default=40, help="recent commits held out (the test set)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forge-judge-bench-"))
    try:
        ws = Workspace.open(ROOT, {"state_dir": str(work / "state"), "miner": {"held_out_commits": args.held_out}})
        build_dataset(ws)
        info = trigger_training(
            ws,
            TrainParams(
                base_model="tiny",
                iters=args.iters,
                batch_size=4,
                max_seq_length=256,
                learning_rate=1e-3,
                steps_per_report=10,
                val_batches=2,
            ),
        )
        while run_info(ws, info.run_id).status in ("queued", "running"):
            time.sleep(0.5)
        report = validate(ws, JudgeParams(target=info.run_id, max_examples=args.examples, max_tokens=args.max_tokens))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    t, n = report.timings, report.examples_used
    per_100 = t.total_seconds * 100 / n
    tokens = report.candidate.generated_tokens + (report.baseline.generated_tokens if report.baseline else 0)
    print_table(
        f"validation of a tiny-model run: {n} examples (of {report.examples_total}), candidate + baseline",
        ["stage", "seconds", "share"],
        [
            ["generation (worker)", f"{t.generation_seconds:.1f}", f"{t.generation_seconds / t.total_seconds:.0%}"],
            ["scoring", f"{t.scoring_seconds:.1f}", f"{t.scoring_seconds / t.total_seconds:.0%}"],
            ["total", f"{t.total_seconds:.1f}", "100%"],
        ],
    )
    print(
        f"  {per_100:.1f} s per 100 examples; {tokens} tokens generated ({tokens / t.generation_seconds:.0f}/s "
        f"including model loading)"
    )
    emit_result(
        {
            "bench": "validation",
            "examples": n,
            "seconds_per_100": round(per_100, 1),
            "generation_seconds": t.generation_seconds,
            "scoring_seconds": t.scoring_seconds,
            "generation_share": round(t.generation_seconds / t.total_seconds, 3),
            "generated_tokens": tokens,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
