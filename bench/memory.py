"""Memory plan accuracy: the hardware plan's predicted mlx peak vs the peak the worker measures
(`mx.get_peak_memory`, reported per training report), for several configurations of the tiny model.

    python bench/memory.py        target: every prediction within 25% of the measurement
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import emit_result, print_table

from forge_mcp.core.workspace import Workspace
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.train.hardware import estimate_memory
from forge_mcp.train.jobs import loss_series, run_info
from forge_mcp.train.machine import detect_machine
from forge_mcp.train.params import TrainParams
from forge_mcp.train.trigger import model_shape, train_shape, trigger_training

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = [
    {"method": "lora", "batch_size": 2, "max_seq_length": 256, "rank": 8},
    {"method": "lora", "batch_size": 8, "max_seq_length": 512, "rank": 8},
    {"method": "dora", "batch_size": 4, "max_seq_length": 1024, "rank": 16},
    {"method": "lora", "batch_size": 16, "max_seq_length": 1024, "rank": 32, "grad_checkpoint": True},
]


def long_dataset(ws: Workspace, source: str) -> str:
    """A text dataset whose every example is longer than the longest sequence tried, so each batch is
    exactly batch x max_seq_length tokens (real datasets pad to their longest example, which varies)."""
    import json

    text = (Path(source) / "text" / "train.jsonl").read_text(encoding="utf-8")
    corpus = "".join(json.loads(line)["text"] for line in text.splitlines())
    corpus *= 1 + 32 * 20_000 // max(len(corpus), 1)
    rows = [json.dumps({"text": corpus[i * 20_000 : (i + 1) * 20_000]}) for i in range(32)]
    folder = ws.state_dir / "datasets" / "ds-membench"
    (folder / "text").mkdir(parents=True, exist_ok=True)
    (folder / "text" / "train.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "text" / "valid.jsonl").write_text("\n".join(rows[:4]) + "\n", encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"summary": {"splits": {"text": {"train": 32, "valid": 4}}}}))
    ws.store.put_record("datasets", "ds-membench", "ready", {}, git_commit=None)
    return "ds-membench"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="forge-memory-bench-"))
    rows, results = [], []
    machine = detect_machine()
    try:
        ws = Workspace.open(ROOT, {"state_dir": str(work / "state")})
        dataset_id = long_dataset(ws, build_dataset(ws).path)
        for cfg in CONFIGS:
            params = TrainParams(
                iters=10, steps_per_report=5, steps_per_eval=1000, task="text", dataset_id=dataset_id, **cfg
            )
            info = trigger_training(ws, params)
            while run_info(ws, info.run_id).status in ("queued", "running"):
                time.sleep(0.3)
            measured = max(p["peak_memory_gb"] for p in loss_series(ws, info.run_id)["train"]) * 1e9
            model = next((work / "state" / "models").glob("tiny-*"))
            predicted = estimate_memory(model_shape(params, model), train_shape(params), machine).mlx_peak_bytes
            error = predicted / measured - 1
            label = ", ".join(f"{k}={v}" for k, v in cfg.items())
            rows.append([label, f"{predicted / 2**20:.1f}", f"{measured / 2**20:.1f}", f"{error:+.1%}"])
            results.append(
                {"config": cfg, "predicted_bytes": predicted, "measured_bytes": int(measured), "error": round(error, 3)}
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(
        "tiny model: predicted vs measured mlx peak memory",
        ["configuration", "predicted MiB", "measured MiB", "error"],
        rows,
    )
    ok = all(abs(r["error"]) <= 0.25 for r in results)
    print(f"  target every prediction within 25%: {'PASS' if ok else 'MISS'}")
    emit_result({"bench": "memory", "results": results, "pass": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
