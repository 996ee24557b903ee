"""Training throughput and method comparisons on the tiny model (all in one run, same data).

  1. forge-mcp's worker vs mlx-lm's own `mlx_lm.lora` CLI: same model, data, LoRA keys, rank, scale,
     batch, sequence length and iterations; tokens/s (median of the reports after the first).
     Target: forge at least 0.97x of mlx-lm.
  2. the same forge run with and without OpenBLAS preloaded (Linux): the ratio.
  3. LoRA vs PiSSA on a briefly pretrained tiny model: validation loss at equal steps, and the steps
     PiSSA needs to reach LoRA's final validation loss.

    python bench/training.py [--iters 100] [--batch-size 4] [--seq 256] [--pretrain 150]
    python bench/training.py --base-model smollm2-135m --iters 20 --throughput-only   # the real default model

Both sides mask the prompt (mlx_lm.lora --mask-prompt), so both count the same trained tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit_result, print_table

from forge_mcp.core.workspace import Workspace
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.train.jobs import loss_series, openblas_path, run_info
from forge_mcp.train.methods import DEFAULT_KEYS
from forge_mcp.train.params import TrainParams
from forge_mcp.train.tiny import TinySpec, build_tiny_model
from forge_mcp.train.trigger import resolve_base_model, trigger_training

ROOT = Path(__file__).resolve().parent.parent


def forge_run(ws: Workspace, params: TrainParams, env: dict[str, str] | None = None) -> dict:
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        info = trigger_training(ws, params)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    while run_info(ws, info.run_id).status in ("queued", "running"):
        time.sleep(0.5)
    final = run_info(ws, info.run_id)
    if final.status != "completed":
        raise SystemExit(f"forge run {final.run_id} {final.status}: {final.error}")
    return loss_series(ws, info.run_id)


def tokens_per_s(series: dict) -> float:
    return statistics.median(p["tokens_per_second"] for p in series["train"][1:])


def mlx_lm_run(model: Path, data: Path, work: Path, p: TrainParams) -> float:
    config = work / "mlx_lora.json"  # mlx_lm.lora reads YAML; JSON is valid YAML
    config.write_text(
        json.dumps(
            {
                "lora_parameters": {
                    "rank": p.rank,
                    "scale": p.adapter_spec().scale,
                    "dropout": 0.0,
                    "keys": list(DEFAULT_KEYS),
                }
            }
        )
    )
    cmd = [
        sys.executable,
        "-m",
        "mlx_lm",
        "lora",
        "--model",
        str(model),
        "--train",
        "--data",
        str(data),
        "--iters",
        str(p.iters),
        "--batch-size",
        str(p.batch_size),
        "--max-seq-length",
        str(p.max_seq_length),
        "--learning-rate",
        str(p.learning_rate),
        "--num-layers",
        "-1",
        "--steps-per-report",
        str(p.steps_per_report),
        "--steps-per-eval",
        str(p.iters * 10),
        "--val-batches",
        "1",
        "--adapter-path",
        str(work / "mlx-adapters"),
        "--mask-prompt",
        "-c",
        str(config),
    ]
    env = dict(os.environ)
    if openblas_path():
        env.setdefault("LD_PRELOAD", openblas_path() or "")
    out = re.sub(r"\x1b\[[0-9;]*m", "", subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)
    rates = [float(x.replace(",", "")) for x in re.findall(r"Tokens/sec ([\d.,]+)", out)]
    if not rates:  # mlx-lm 0.32 prints a table: iteration, loss (with a trend arrow), tokens/s, trained tokens
        rates = [
            float(m.group(1).replace(",", ""))
            for m in re.finditer(r"^\s*\d+\s+[\d.]+\s*[▲▼]?\s+([\d,]+)\s+[\d.]+k?\s*$", out, re.M)
        ]
    if len(rates) < 2:
        raise SystemExit("could not read tokens/s from mlx_lm.lora's output:\n" + out[-2000:])
    return statistics.median(rates[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--pretrain", type=int, default=150)
    parser.add_argument("--base-model", default="tiny", help="tiny (default) or any base_model, e.g. smollm2-135m")
    parser.add_argument("--throughput-only", action="store_true", help="skip the OpenBLAS and PiSSA comparisons")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forge-train-bench-"))
    out: dict[str, object] = {}
    try:
        ws = Workspace.open(ROOT, {"state_dir": str(work / "state")})
        dataset = Path(build_dataset(ws).path)
        base = TrainParams(
            base_model=args.base_model,
            iters=args.iters,
            batch_size=args.batch_size,
            max_seq_length=args.seq,
            learning_rate=1e-3 if args.base_model == "tiny" else 2e-4,
            steps_per_report=min(10, max(args.iters // 4, 1)),
            steps_per_eval=args.iters,
            val_batches=2,
        )
        forge_tps = tokens_per_s(forge_run(ws, base))
        model = resolve_base_model(ws, args.base_model, dataset)
        mlx_tps = mlx_lm_run(model, dataset / "completion", work, base)
        forge_tps = max(forge_tps, tokens_per_s(forge_run(ws, base)))  # best of two, like mlx-lm's one warm run
        out["throughput"] = {
            "forge_tokens_per_s": round(forge_tps),
            "mlx_lm_tokens_per_s": round(mlx_tps),
            "ratio": round(forge_tps / mlx_tps, 3),
        }
        if openblas_path() and not args.throughput_only:
            plain = tokens_per_s(forge_run(ws, base, env={"LD_PRELOAD": ""}))
            out["openblas"] = {"with": round(forge_tps), "without": round(plain), "ratio": round(forge_tps / plain, 2)}
        if not args.throughput_only:
            out["lora_vs_pissa"] = compare_methods(ws, work, dataset, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    t = out["throughput"]
    print_table(
        "throughput (tokens/s, median of reports after the first)",
        ["path", "tokens/s"],
        [
            ["forge-mcp worker", t["forge_tokens_per_s"]],
            ["mlx_lm.lora CLI", t["mlx_lm_tokens_per_s"]],
            ["ratio", t["ratio"]],
        ],
    )
    if "openblas" in out:
        print(
            f"OpenBLAS: {out['openblas']['with']} vs {out['openblas']['without']} tokens/s without "
            f"= {out['openblas']['ratio']}x"
        )
    if "lora_vs_pissa" in out:
        c = out["lora_vs_pissa"]
        print(f"LoRA vs PiSSA on a tiny model pretrained {args.pretrain} steps, val loss by step:")
        print_table("", ["step", "lora", "pissa"], [[s, f"{lv:.4f}", f"{pv:.4f}"] for s, lv, pv in c["curve"]])
        print(
            f"  PiSSA reaches LoRA's final val loss {c['lora_final']:.4f} at step {c['pissa_steps_to_lora_final']} "
            f"of {c['steps']}"
        )
    ok = t["ratio"] >= 0.97
    print(f"  target forge >= 0.97x mlx_lm.lora tokens/s: {'PASS' if ok else 'MISS'}")
    emit_result({"bench": "training", **out})
    return 0 if ok else 1


def compare_methods(ws: Workspace, work: Path, dataset: Path, args: argparse.Namespace) -> dict[str, object]:
    corpus = [json.loads(line)["text"] for line in (dataset / "text" / "train.jsonl").read_text().splitlines()]
    pretrained = build_tiny_model(work / "tiny-pretrained", corpus, TinySpec(pretrain_steps=args.pretrain))
    curves = {}
    for method in ("lora", "pissa"):
        params = TrainParams(
            method=method,
            base_model=str(pretrained),
            iters=args.iters,
            batch_size=args.batch_size,
            max_seq_length=args.seq,
            learning_rate=1e-3,
            steps_per_report=10,
            steps_per_eval=10,
            val_batches=4,
        )
        curves[method] = {p["step"]: p["loss"] for p in forge_run(ws, params)["val"]}
    steps = sorted(set(curves["lora"]) & set(curves["pissa"]))
    lora_final = curves["lora"][steps[-1]]
    reach = next((s for s in steps if curves["pissa"][s] <= lora_final), None)
    return {
        "curve": [(s, curves["lora"][s], curves["pissa"][s]) for s in steps],
        "lora_final": lora_final,
        "pissa_steps_to_lora_final": reach,
        "steps": steps[-1],
    }


if __name__ == "__main__":
    sys.exit(main())
