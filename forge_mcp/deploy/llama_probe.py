"""The llama.cpp side of GGUF checks, run as its own process: `python -m forge_mcp.deploy.llama_probe ...`.

llama.cpp aborts the whole process on a malformed file, so nothing here runs inside the server. Commands:

- `probe REQUEST.json`: load the GGUF, tokenize/detokenize texts, greedy-decode prompts; JSON on stdout.
- `quantize SRC DST --ftype N`: llama.cpp's quantizer (e.g. 15 = Q4_K_M); exit status 0 on success.

stdout carries only the JSON result: file descriptor 1 is pointed at stderr before llama.cpp is loaded,
so whatever the C library prints goes to stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

from forge_mcp.deploy.llama_runtime import disable_extra_buffer_types

LOADED_MARK = "forge-probe: model loaded"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = _claim_stdout()
    if args.command == "quantize":
        return _quantize(args.src, args.dst, args.ftype)
    result = probe(json.loads(Path(args.request).read_text(encoding="utf-8")))
    out.write(json.dumps(result))
    out.flush()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m forge_mcp.deploy.llama_probe")
    sub = parser.add_subparsers(dest="command", required=True)
    probe_cmd = sub.add_parser("probe", help="load a GGUF and run tokenizer and greedy-decoding checks")
    probe_cmd.add_argument("request", help="JSON file: model, n_ctx, texts, decode, prompts, stop_ids")
    quant = sub.add_parser("quantize", help="quantize a GGUF with llama.cpp")
    quant.add_argument("src")
    quant.add_argument("dst")
    quant.add_argument("--ftype", type=int, required=True, help="llama_ftype, e.g. 15 = Q4_K_M")
    return parser


def _claim_stdout() -> IO[str]:
    """A private handle on the real stdout; fd 1 (and sys.stdout) now lead to stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8")


def probe(request: dict[str, Any]) -> dict[str, Any]:
    """Run every check of `request` on one loaded model (see verify.py for what the keys hold)."""
    from llama_cpp import Llama

    disable_extra_buffer_types()  # AMX CPUs segfault on quantized files otherwise (see llama_runtime)
    llm = Llama(
        model_path=request["model"],
        n_ctx=int(request["n_ctx"]),
        n_threads=os.cpu_count() or 1,
        verbose=False,
        logits_all=False,
        seed=0,
    )
    print(LOADED_MARK, file=sys.stderr, flush=True)
    stop = set(request.get("stop_ids", []))
    prompts = []
    for prompt in request["prompts"]:
        prompts.append(
            {
                "ids": llm.tokenize(prompt["text"].encode("utf-8"), add_bos=prompt["add_bos"], special=True),
                # Both decodings start from the HF prompt ids, so a tokenizer difference (reported on its
                # own) does not also show up as a weights disagreement.
                "free": _greedy(llm, prompt["hf_ids"], int(request["max_tokens"]), stop),
                "forced": _forced(llm, prompt["hf_ids"], prompt["reference"]),
            }
        )
    return {
        "texts": [llm.tokenize(t.encode("utf-8"), add_bos=True, special=True) for t in request["texts"]],
        "decoded": [llm.detokenize(ids, special=True).decode("utf-8", "replace") for ids in request["decode"]],
        "prompts": prompts,
        "chat_template": llm.metadata.get("tokenizer.chat_template"),
        "n_vocab": llm.n_vocab(),
    }


def _next_token(llm: Any) -> int:
    """Greedy choice: argmax of the last position's logits (what temp 0 / top_k 1 sampling picks)."""
    import llama_cpp
    import numpy as np

    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
    return int(np.argmax(logits))


def _greedy(llm: Any, prompt: list[int], max_tokens: int, stop: set[int]) -> list[int]:
    """Free-running greedy decoding, stopped by a stop id (kept) or `max_tokens`."""
    llm.reset()
    llm.eval(prompt)
    out: list[int] = []
    while len(out) < max_tokens:
        out.append(_next_token(llm))
        if out[-1] in stop:
            break
        llm.eval([out[-1]])
    return out


def _forced(llm: Any, prompt: list[int], reference: list[int]) -> list[int]:
    """Teacher forcing: llama.cpp's greedy choice at each position of the reference continuation."""
    llm.reset()
    llm.eval(prompt)
    out: list[int] = []
    for i, token in enumerate(reference):
        out.append(_next_token(llm))
        if i + 1 < len(reference):
            llm.eval([token])
    return out


def _quantize(src: str, dst: str, ftype: int) -> int:

    import llama_cpp

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = os.cpu_count() or 1
    status = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    if status != 0:
        print(f"llama_model_quantize returned {status}", file=sys.stderr)
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
