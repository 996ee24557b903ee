"""Where a base model may be read from: a name an agent or a repository's forge.toml passes must not make the
forge read a folder or file anywhere on the machine.

A base-model name is one of: a shipped or hub name (no path), `ollama:NAME[:TAG]` (the Ollama store), or a
path (`gguf:PATH`, a local mlx-lm folder). Relative paths start at the repository root, never at the server's
working folder. Paths must lie in one of the places the user named: the repository roots, the model caches
(the forge's own and Hugging Face's), the Ollama store, and `model_dirs` (`--model-dir`, FORGE_MODEL_DIRS).
"""

from __future__ import annotations

import os
from pathlib import Path

from forge_mcp.core.errors import ConfigError, PathOutsideRootsError, quoted
from forge_mcp.core.workspace import Workspace
from forge_mcp.train.ollama_source import ollama_store

MAX_MODEL_NAME = 4096  # a path, at most; every component at most 255 bytes (the filesystem's own limit)
_PATH_STARTS = ("/", "~", ".")


def huggingface_cache() -> Path:
    """The Hugging Face hub cache (where mlx-lm finds downloaded models), from the same variables it reads."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or str(Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface")
    return Path(home).expanduser() / "hub"


def model_places(ws: Workspace) -> list[Path]:
    """Every folder a base model may be read from, resolved."""

    places = [*ws.trusted_roots, ws.models_dir, huggingface_cache(), ollama_store()]
    places += [Path(p).expanduser() for p in ws.config.model_dirs]
    resolved: list[Path] = []
    for place in places:
        path = place.resolve()
        if path not in resolved:
            resolved.append(path)
    return resolved


def check_model_name(name: str) -> None:
    """Refuse a name no filesystem or registry could hold, before anything touches the disk with it."""
    if not name.strip():
        raise ConfigError(
            "base_model is empty: use 'smollm2-135m', 'gguf:PATH', 'ollama:NAME[:TAG]', a model "
            "folder or a Hugging Face id"
        )
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise ConfigError(f"base_model {quoted(name)} contains a NUL or control character; pass a plain name or path")
    too_long = [part for part in name.split("/") if len(part.encode("utf-8", "surrogatepass")) > 255]
    if len(name) > MAX_MODEL_NAME or too_long:
        raise ConfigError(
            f"base_model {quoted(name)} is too long ({len(name)} characters"
            + (
                f", a component of {len(too_long[0].encode('utf-8', 'surrogatepass'))} bytes; the limit is 255"
                if too_long
                else ""
            )
            + "): pass a model name or an existing path"
        )


def model_path_of(ws: Workspace, name: str) -> Path | None:
    """The path a base-model name points at (not checked for existence), or None when it names no path."""
    check_model_name(name)
    raw = name[5:] if name.startswith("gguf:") else name
    if not name.startswith("gguf:") and not raw.startswith(_PATH_STARTS) and not (ws.repo_root / raw).is_dir():
        return None  # a shipped name, `tiny`, `ollama:…` or a hub id
    return (ws.repo_root / Path(raw).expanduser()).resolve()


def confine_model_path(ws: Workspace, path: Path, name: str) -> Path:
    """`path` (resolved) when it lies in a place base models may come from, else PathOutsideRootsError."""
    path = path.resolve()
    places = model_places(ws)
    if any(path == place or path.is_relative_to(place) for place in places):
        return path
    raise PathOutsideRootsError(
        f"base model {quoted(name)} is at {path}, outside the places base models may be read from "
        f"({', '.join(str(p) for p in places)}). Move it into the forge's model cache "
        f"({ws.models_dir}), or allow its folder yourself: start the forge with --model-dir "
        f"{path.parent} (or set FORGE_MODEL_DIRS, or model_dirs in your user config file; a repository's "
        "forge.toml may not)"
    )
