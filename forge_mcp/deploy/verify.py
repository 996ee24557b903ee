"""Parity check of an exported GGUF against the model folder it came from: llama.cpp versus mlx-lm.

Three things are compared: the tokenizers (token ids of a few texts with code, unicode and special
tokens, and llama.cpp's detokenization of the HF ids), the embedded chat template, and greedy decoding.

Agreement is measured *teacher-forced*: mlx-lm greedily generates a continuation of each chat-formatted
prompt, then llama.cpp is fed the same prompt and continuation and at every position its greedy (argmax)
token is compared with mlx's. Unlike comparing two free-running generations, one early divergence does not
make every later position disagree. The free-running llama.cpp generation is reported too, for reading.

`exact` means every disagreement is at a near-tie: a position where mlx's best and second-best logits are
closer than `tie_margin`. Two correct f32 implementations sum in different orders, and on random or
barely trained weights a 1e-5 margin happens (seen on a tiny model: 1 position in 128); a layout bug
disagrees at clear margins. Rule: an f32 file must be exact with matching tokenizers and chat template;
other types pass when tokenizers and template match and agreement >= `threshold`.

llama.cpp runs in a subprocess (`llama_probe`), so a file that makes it abort gives a failed report,
not a dead server.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forge_mcp.core.errors import ExportError
from forge_mcp.deploy.llama_probe import LOADED_MARK

log = logging.getLogger(__name__)

DEFAULT_PROMPTS = [
    "Write a Python function that adds two numbers.",
    "def add(a, b):",
    "What does a stack do?",
    "class Stack:",
]
TOKENIZER_TEXTS = [
    "def add(a, b):\n    return a + b\n",
    "    if x != y:\n\t\treturn {'k': [1, 2, 3]}  # done\n",
    "naïve café, Ελληνικά, 日本語, emoji 🚀🧪, math ∑x² ≤ ∞",
    "trailing   \n\n\nspaces   and\r\nCRLF",
]
AGREEMENT_MODE = "teacher-forced"
_FILE_TYPES = {0: "f32", 1: "f16", 7: "q8_0", 15: "q4_k_m"}


class TokenizerCheck(BaseModel):
    """One text through the HF and the llama.cpp tokenizer, and the HF ids back through llama.cpp."""

    text: str
    hf_ids: list[int]
    llama_ids: list[int]
    hf_decoded: str
    llama_decoded: str
    match: bool


class PromptParity(BaseModel):
    prompt: str
    prompt_ids_match: bool  # the chat-formatted prompt tokenizes the same in both
    mlx_tokens: list[int]  # mlx-lm's greedy continuation (the reference)
    llama_tokens: list[int]  # llama.cpp's free-running greedy continuation
    forced_tokens: list[int]  # llama.cpp's greedy pick at each position of the reference
    mlx_margins: list[float]  # mlx's best minus second-best logit at each position of the reference
    agreement: float
    near_tie_mismatches: int  # disagreements where the margin was below tie_margin
    first_divergence: int | None  # first position where the free-running continuations differ


class ParityReport(BaseModel):
    ok: bool
    loads: bool
    outtype: str | None = None
    tokenizer_match: bool = False
    tokenizer_mismatch: TokenizerCheck | None = None  # the first text that differs
    chat_template_match: bool = False
    token_agreement: float = 0.0
    agreement_mode: str = AGREEMENT_MODE
    threshold: float
    tie_margin: float
    near_tie_mismatches: int = 0  # disagreements excused as near-ties (see module docstring)
    exact: bool = False
    prompts: list[PromptParity] = []
    tokenizer_checks: list[TokenizerCheck] = []
    seconds: float
    error: str | None = None


def verify_gguf(
    gguf_path: Path,
    model_dir: Path,
    prompts: list[str] | None = None,
    max_tokens: int = 32,
    timeout: float = 300,
    threshold: float = 0.9,
    tie_margin: float = 1e-3,
) -> ParityReport:
    """Compare `gguf_path` (run by llama.cpp) with `model_dir` (run by mlx-lm). Never raises for a bad
    GGUF: a load failure or abort of llama.cpp gives `ok=False` with the error text. Raises ExportError
    only when the inputs are missing."""
    start = time.monotonic()
    gguf_path, model_dir = Path(gguf_path), Path(model_dir)
    if not gguf_path.is_file() or not (model_dir / "config.json").is_file():
        raise ExportError(f"nothing to verify: {gguf_path} or {model_dir}/config.json is missing")
    outtype = _outtype(gguf_path)
    mlx = _mlx_side(model_dir, prompts or DEFAULT_PROMPTS, max_tokens)
    request = {
        "model": str(gguf_path),
        "n_ctx": mlx["n_ctx"],
        "max_tokens": max_tokens,
        "stop_ids": mlx["stop_ids"],
        "texts": mlx["texts"],
        "decode": mlx["hf_ids"],
        "prompts": [{k: p[k] for k in ("text", "add_bos", "hf_ids", "reference")} for p in mlx["prompts"]],
    }
    result, error, loads = _run_probe(request, timeout)
    if result is None:
        return ParityReport(
            ok=False,
            loads=loads,
            outtype=outtype,
            threshold=threshold,
            tie_margin=tie_margin,
            error=error,
            seconds=time.monotonic() - start,
        )
    report = _compare(mlx, result, outtype, threshold, tie_margin)
    report.seconds = time.monotonic() - start
    return report


def _outtype(path: Path) -> str | None:
    """general.file_type of the GGUF, as a name; None if the header cannot be read (the probe will say)."""
    try:
        import gguf

        field = gguf.GGUFReader(path).fields["general.file_type"]
        code = int(field.parts[field.data[0]][0])
    except Exception:  # any unreadable header: llama.cpp's verdict is what counts
        log.debug("cannot read the file type of %s", path, exc_info=True)
        return None
    return _FILE_TYPES.get(code, f"ftype-{code}")


def _mlx_side(model_dir: Path, prompts: list[str], max_tokens: int) -> dict[str, Any]:
    """The reference: HF tokenizations and mlx-lm greedy continuations of the chat-formatted prompts."""
    from mlx_lm import load

    model, tokenizer, *_ = load(str(model_dir))  # (model, tokenizer): the config comes only with return_config
    stop = sorted(int(i) for i in tokenizer.eos_token_ids)
    template = getattr(tokenizer, "chat_template", None)
    entries: list[dict[str, Any]] = []
    for prompt in prompts:
        # A chat template writes its own BOS (if any): the rendered text is encoded without added tokens.
        text = (
            tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
            if template
            else prompt
        )
        ids = list(tokenizer.encode(text, add_special_tokens=not template))
        reference, margins = _mlx_greedy(model, ids, max_tokens, set(stop))
        entries.append(
            {
                "prompt": prompt,
                "text": text,
                "add_bos": not template,
                "hf_ids": ids,
                "reference": reference,
                "margins": margins,
            }
        )
    longest = max(len(e["hf_ids"]) for e in entries)
    texts = [*TOKENIZER_TEXTS, _special_text(tokenizer), *(e["text"] for e in entries)]
    hf_ids = [list(tokenizer.encode(t)) for t in texts]
    return {
        "texts": texts,
        "hf_ids": hf_ids,
        "hf_decoded": [tokenizer.decode(i) for i in hf_ids],
        "stop_ids": stop,
        "template": template,
        "prompts": entries,
        "n_ctx": max(256, longest + max_tokens + 16),
    }


def _special_text(tokenizer: Any) -> str:
    """A chat-like text made of the tokenizer's special tokens, e.g. `<|im_start|>user\\nhi<|im_end|>`."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    special = [tok.content for _, tok in sorted(added.items()) if getattr(tok, "special", False)][:4]
    return "".join(f"{tok}text {i}\n" for i, tok in enumerate(special)) or "no special tokens"


def _mlx_greedy(model: Any, ids: list[int], max_tokens: int, stop: set[int]) -> tuple[list[int], list[float]]:
    """Greedy tokens and, per token, the gap between the best and second-best logit (log-probs differ
    from logits by a constant, so their gap is the logits' gap)."""
    import mlx.core as mx
    from mlx_lm.generate import generate_step

    out: list[int] = []
    margins: list[float] = []
    for token, logprobs in generate_step(
        mx.array(ids), model, max_tokens=max_tokens, sampler=lambda logits: mx.argmax(logits, axis=-1)
    ):
        top = mx.topk(logprobs.reshape(-1), 2)
        out.append(int(token))
        margins.append(float(mx.max(top) - mx.min(top)))
        if out[-1] in stop:
            break
    return out, margins


def _run_probe(request: dict[str, Any], timeout: float) -> tuple[dict[str, Any] | None, str | None, bool]:
    """(result, error, loaded): the probe's JSON, or why there is none and whether the model had loaded."""
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH")]))
    }
    with tempfile.TemporaryDirectory(prefix="forge-probe-") as tmp:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(request), encoding="utf-8")
        cmd = [sys.executable, "-P", "-m", "forge_mcp.deploy.llama_probe", "probe", str(path)]
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            return None, f"llama.cpp probe timed out after {timeout:.0f}s: {err[-1500:]}", LOADED_MARK in err
    loaded = LOADED_MARK in proc.stderr
    if proc.returncode != 0:
        how = f"signal {signal.Signals(-proc.returncode).name}" if proc.returncode < 0 else f"exit {proc.returncode}"
        return None, f"llama.cpp probe failed ({how}): {proc.stderr[-2000:].strip()}", loaded
    try:
        return json.loads(proc.stdout), None, loaded
    except ValueError:
        return None, f"llama.cpp probe wrote no JSON: {proc.stdout[-500:]!r} {proc.stderr[-1500:]}", loaded


def _compare(
    mlx: dict[str, Any], result: dict[str, Any], outtype: str | None, threshold: float, tie_margin: float
) -> ParityReport:
    checks = [
        TokenizerCheck(
            text=text,
            hf_ids=hf,
            llama_ids=ll,
            hf_decoded=hf_dec,
            llama_decoded=ll_dec,
            match=hf == ll and hf_dec == ll_dec,
        )
        for text, hf, ll, hf_dec, ll_dec in zip(
            mlx["texts"], mlx["hf_ids"], result["texts"], mlx["hf_decoded"], result["decoded"], strict=True
        )
    ]
    prompts = [
        _prompt_parity(entry, got, tie_margin) for entry, got in zip(mlx["prompts"], result["prompts"], strict=True)
    ]
    positions = sum(len(p.mlx_tokens) for p in prompts)
    agreed = sum(sum(a == b for a, b in zip(p.forced_tokens, p.mlx_tokens, strict=False)) for p in prompts)
    agreement = agreed / positions if positions else 1.0
    ties = sum(p.near_tie_mismatches for p in prompts)
    exact = positions - agreed == ties
    tokenizer_match = all(c.match for c in checks) and all(p.prompt_ids_match for p in prompts)
    template_match = mlx["template"] is None or result.get("chat_template") == mlx["template"]
    good = exact if outtype == "f32" else agreement >= threshold
    return ParityReport(
        ok=tokenizer_match and template_match and good,
        loads=True,
        outtype=outtype,
        tokenizer_match=tokenizer_match,
        tokenizer_mismatch=next((c for c in checks if not c.match), None),
        chat_template_match=template_match,
        token_agreement=agreement,
        threshold=threshold,
        tie_margin=tie_margin,
        near_tie_mismatches=ties,
        exact=exact,
        prompts=prompts,
        tokenizer_checks=checks,
        seconds=0.0,
        error=None if template_match else "the GGUF's chat template differs from tokenizer_config's",
    )


def _prompt_parity(entry: dict[str, Any], got: dict[str, Any], tie_margin: float) -> PromptParity:
    ref, free, forced, margins = entry["reference"], got["free"], got["forced"], entry["margins"]
    ties = sum(a != b and m < tie_margin for a, b, m in zip(forced, ref, margins, strict=False))
    diverge = next(
        (i for i, (a, b) in enumerate(zip(ref, free, strict=False)) if a != b),
        None if len(ref) == len(free) else min(len(ref), len(free)),
    )
    agree = sum(a == b for a, b in zip(forced, ref, strict=False)) / len(ref) if ref else 1.0
    return PromptParity(
        prompt=entry["prompt"],
        prompt_ids_match=got["ids"] == entry["hf_ids"],
        mlx_tokens=ref,
        llama_tokens=free,
        forced_tokens=forced,
        mlx_margins=margins,
        agreement=agree,
        near_tie_mismatches=ties,
        first_divergence=diverge,
    )
