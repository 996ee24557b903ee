"""Export + verification time for the tiny model, and fused vs unfused generation parity.

1. The tiny model built from this repository's text: fuse (no adapter), GGUF export (f32, f16, q8_0) and
   the llama.cpp parity check, each timed in this process (the check's llama.cpp side is a subprocess).
2. A short LoRA run and a short PiSSA run on it: greedy generation of base + adapter (unfused, mlx-lm)
   against the fused model (mlx-lm), teacher-forced token agreement on the verification prompts, then the
   fused model's GGUF against llama.cpp.

    python bench/export.py [--iters 40]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit_result, print_table

from forge_mcp.core.workspace import Workspace
from forge_mcp.deploy.fuse import fuse_run
from forge_mcp.deploy.gguf_export import export_gguf
from forge_mcp.deploy.verify import DEFAULT_PROMPTS, verify_gguf
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.train.jobs import run_info
from forge_mcp.train.params import RunPaths, TrainParams
from forge_mcp.train.trigger import trigger_training


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started


def greedy(model, tokenizer, prompt: str, n: int) -> list[int]:
    import mlx.core as mx
    from mlx_lm.generate import generate_step
    from mlx_lm.sample_utils import make_sampler

    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=False
    )
    out = []
    for token, _ in generate_step(mx.array(ids), model, max_tokens=n, sampler=make_sampler(temp=0.0)):
        out.append(int(token))
    return out


def fused_parity(base: Path, adapter: Path, fused: Path, n: int = 32) -> float:
    """Share of positions where the fused model's greedy token equals base + adapter's (free-running,
    compared up to the shorter continuation)."""
    from mlx_lm import load

    unfused, tok = load(str(base), adapter_path=str(adapter))
    merged, _ = load(str(fused))
    same = total = 0
    for prompt in DEFAULT_PROMPTS:
        a, b = greedy(unfused, tok, prompt, n), greedy(merged, tok, prompt, n)
        k = min(len(a), len(b))
        same += sum(x == y for x, y in zip(a[:k], b[:k], strict=False))
        total += k
    return same / max(total, 1)


def train(ws: Workspace, method: str, iters: int) -> str:
    info = trigger_training(
        ws,
        TrainParams(
            base_model="tiny",
            method=method,
            iters=iters,
            batch_size=4,
            max_seq_length=256,
            learning_rate=1e-3,
            steps_per_report=10,
            val_batches=2,
            compile=False,
        ),
    )
    while run_info(ws, info.run_id).status in ("queued", "running"):
        time.sleep(0.5)
    return info.run_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=40)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forge-export-bench-"))
    rows, out = [], {}
    try:
        ws = Workspace.open(ROOT, {"state_dir": str(work / "state")})
        build_dataset(ws)
        runs = {m: train(ws, m, args.iters) for m in ("lora", "pissa")}
        base = Path(next((work / "state" / "models").glob("tiny-*")))
        fused, t_fuse = timed(fuse_run, base, None, work / "tiny-fused")
        for outtype in ("f32", "f16", "q8_0"):
            info, t_export = timed(export_gguf, fused, work / f"tiny-{outtype}.gguf", outtype)
            parity, t_verify = timed(verify_gguf, info.path, fused)
            rows.append(
                [
                    f"tiny {outtype}",
                    f"{t_fuse:.2f}",
                    f"{t_export:.2f}",
                    f"{t_verify:.2f}",
                    f"{parity.token_agreement:.3f}",
                    parity.ok,
                ]
            )
            out[f"tiny_{outtype}"] = {
                "fuse_s": round(t_fuse, 3),
                "export_s": round(t_export, 3),
                "verify_s": round(t_verify, 3),
                "agreement": parity.token_agreement,
                "ok": parity.ok,
            }
        for method, run_id in runs.items():
            adapter = RunPaths(ws.state_dir / "runs" / run_id).adapters
            fused_run, t_fuse = timed(fuse_run, base, adapter, work / f"{method}-fused")
            rate = fused_parity(base, adapter, fused_run)
            info, t_export = timed(export_gguf, fused_run, work / f"{method}.gguf", "f32")
            parity, t_verify = timed(verify_gguf, info.path, fused_run)
            rows.append(
                [
                    f"{method} run f32",
                    f"{t_fuse:.2f}",
                    f"{t_export:.2f}",
                    f"{t_verify:.2f}",
                    f"{parity.token_agreement:.3f}",
                    parity.ok,
                ]
            )
            out[f"{method}_fused_vs_unfused"] = round(rate, 4)
            out[f"{method}_f32"] = {"agreement": parity.token_agreement, "ok": parity.ok}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(
        "export + verification (seconds; agreement = llama.cpp vs mlx, teacher-forced)",
        ["model", "fuse", "export", "verify", "agreement", "ok"],
        rows,
    )
    for method in ("lora", "pissa"):
        print(f"  {method}: fused vs unfused (mlx, greedy) token agreement {out[f'{method}_fused_vs_unfused']:.3f}")
    emit_result({"bench": "export", **out})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
