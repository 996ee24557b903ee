"""`ollama:NAME[:TAG]` base models: a model pulled into Ollama, found as a GGUF blob plus what Ollama keeps
beside it.

The local store (`$OLLAMA_MODELS` or `~/.ollama/models`) is read first: the manifest names the GGUF blob and
the template / system prompt / parameters layers. Only when the store lacks the model is the Ollama server
asked (`show`), which gives the template/system/parameters and, through its modelfile, the blob's path; the
API cannot hand out the GGUF itself. What was found is kept as `ollama.json` beside the converted weights so a
deployment can reuse it (`write_ollama`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from forge_mcp.core.errors import GGUFImportError, GGUFNotFoundError, quoted
from forge_mcp.core.fsutil import atomic_write_json

OLLAMA_REGISTRY = "registry.ollama.ai"
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
OLLAMA_TIMEOUT_S = 3.0  # a show() is instant on a live server; never let a dead host stall an import
_MEDIA = "application/vnd.ollama.image."
_NAME_PART = re.compile(r"\w[\w.\-]*")
OLLAMA_FILE = "ollama.json"


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


def ollama_store() -> Path:
    """Where Ollama keeps models on this machine."""
    return Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models").expanduser()


def parse_ollama_name(ref: str) -> tuple[str, str, str, str]:
    """`x`, `user/x`, `host/user/x`, each with an optional `:tag` -> (registry, namespace, model, tag)."""
    head, _, last = ref.strip().rpartition("/")
    model, _, tag = last.partition(":")
    parts = [p for p in head.split("/") if p] if head else []
    # Each part becomes a folder name under the store: no `..`, no leading dot, nothing but name characters.
    if (
        not model
        or len(parts) > 2
        or len(ref) > 300
        or not all(_NAME_PART.fullmatch(p) for p in (*parts, model, *([tag] if tag else [])))
    ):
        raise GGUFImportError(f"not an Ollama model name: {quoted(ref)} (expected NAME[:TAG], e.g. qwen2.5-coder:1.5b)")
    registry = parts[0] if len(parts) == 2 else OLLAMA_REGISTRY
    namespace = parts[-1] if parts else "library"
    return registry, namespace, model, tag or "latest"


def resolve_ollama(ref: str, host: str | None) -> tuple[Path, str, OllamaMeta]:
    """(the GGUF blob, the label `ollama:NAME:TAG`, what Ollama keeps beside it) for `NAME[:TAG]`: from
    the local store, else from the server at `host` (default $OLLAMA_HOST or localhost)."""
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
        raise GGUFNotFoundError(
            f"no Ollama model {display!r}: not in the local store (no manifest at {manifest}) "
            f"and not on the Ollama server at {host} ({why}); run `ollama pull {display}` "
            "(set OLLAMA_MODELS if Ollama keeps its models elsewhere)"
        )
    return _from_server(shown, base, store, host, display)


def _from_manifest(manifest: Path, store: Path, base: OllamaMeta, label: str) -> tuple[Path, str, OllamaMeta]:
    try:
        layers = {layer["mediaType"]: layer["digest"] for layer in json.loads(manifest.read_text())["layers"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GGUFImportError(f"unreadable Ollama manifest {manifest}: {exc}") from exc
    if _MEDIA + "adapter" in layers:  # the base alone would silently drop the model's LoRA
        raise GGUFImportError(
            f"{label} has an adapter layer: Ollama models built FROM a base plus ADAPTER are "
            "not supported; import its base model instead"
        )
    if _MEDIA + "model" not in layers:
        raise GGUFImportError(f"the manifest {manifest} has no {_MEDIA}model layer (no GGUF weights)")

    def blob(media: str) -> Path | None:
        digest = layers.get(_MEDIA + media)
        return store / "blobs" / digest.replace(":", "-") if digest else None

    weights = blob("model")
    assert weights is not None
    if not weights.is_file():
        raise GGUFNotFoundError(
            f"{label}: the manifest names {weights.name}, which is missing from {store}/blobs; "
            f"run `ollama pull {label[7:]}` again"
        )
    params = blob("params")
    meta = base.model_copy(
        update={
            "template": _read_text(blob("template")),
            "system": _read_text(blob("system")),
            "parameters": json.loads(params.read_text()) if params and params.is_file() else {},
        }
    )
    return weights, label, meta


def _read_text(path: Path | None) -> str | None:
    return path.read_text(encoding="utf-8") if path is not None and path.is_file() else None


def blob_digest(path: Path) -> str | None:
    """The sha256 hex an Ollama blob's name (`sha256-<hex>`) carries, or None for any other file."""
    match = re.fullmatch(r"sha256-([0-9a-f]{64})", path.name)
    return match.group(1) if match else None


def _ollama_show(host: str, name: str) -> tuple[Any, str]:
    """(show response, "") from the server, or (None, why not)."""
    import httpx  # lazy: with its CLI extras it costs ~60 ms at start-up
    import ollama

    try:
        client = ollama.Client(host=host, timeout=OLLAMA_TIMEOUT_S)
        return client.show(name), ""
    except ollama.ResponseError as exc:
        return None, f"HTTP {exc.status_code}: {exc.error}"
    except (ConnectionError, httpx.HTTPError, OSError) as exc:
        return None, f"unreachable: {exc}"


def _from_server(shown: Any, base: OllamaMeta, store: Path, host: str, display: str) -> tuple[Path, str, OllamaMeta]:
    """The server knows the model: its template/system/parameters, and its weights if the blob its modelfile
    names (`FROM /…/blobs/sha256-…`) is readable here. The API itself cannot hand out the GGUF."""
    modelfile = str(getattr(shown, "modelfile", "") or "")
    meta = base.model_copy(
        update={
            "template": getattr(shown, "template", None),
            "system": _modelfile_system(modelfile),
            "parameters": parse_ollama_parameters(getattr(shown, "parameters", None) or ""),
            "source": "server",
        }
    )
    match = re.search(r"^FROM\s+(\S*sha256-[0-9a-f]{64})\s*$", modelfile, re.MULTILINE)
    weights = Path(match.group(1)) if match else None
    if weights is None or not weights.is_file():
        raise GGUFNotFoundError(
            f"the Ollama server at {host} has {display!r}, but its weights are not in the local "
            f"store {store}: the Ollama API cannot hand out the GGUF file, so the weights must be "
            "on this machine (run forge-mcp where Ollama keeps its models, or set OLLAMA_MODELS "
            f"to that folder, or `ollama pull {display}` here)"
        )
    return weights, f"ollama:{display}", meta


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


def write_ollama(folder: Path, meta: OllamaMeta) -> None:
    """ollama.json; on a cache hit rewritten only when it changed (two Ollama models may share one blob)."""
    data = meta.model_dump(mode="json")
    try:
        if json.loads((folder / OLLAMA_FILE).read_text()) == data:
            return
    except (OSError, ValueError):
        pass
    atomic_write_json(folder / OLLAMA_FILE, data)
