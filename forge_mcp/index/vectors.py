"""The vector side of the index: a ChromaDB collection, embedded (PersistentClient) or a server (HttpClient).

We always pass embeddings ourselves (Chroma's default embedding function would download a model). The
collection's metadata records which embedder made it; opening it with another is refused, never mixed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from forge_mcp.errors import ConfigError, ForgeError


class IndexMismatchError(ForgeError):
    """The index was built with another embedder; it must be rebuilt before use."""


def _client(path: Path, url: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"chroma_url {url!r} is not an http(s) URL")
        return chromadb.HttpClient(host=parsed.hostname, port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                                   ssl=parsed.scheme == "https", settings=settings)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def collection_name(repo: str, embedder: str) -> str:
    """One collection per repository and embedder (a Chroma server may hold many repositories)."""
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", f"forge-{repo}-{embedder}")[:60].strip("-_")
    return slug if len(slug) >= 3 else f"forge-{slug}"


class VectorStore:
    def __init__(self, path: Path, url: str | None, repo: str, embedder: str) -> None:
        self.client = _client(path, url)
        # One collection per repository and embedder (a server may hold many repositories).
        self.name = collection_name(repo, embedder)
        self.embedder = embedder
        self.collection = self.client.get_or_create_collection(
            self.name, embedding_function=None, metadata={"embedder": embedder, "hnsw:space": "cosine"})
        made_with = (self.collection.metadata or {}).get("embedder")
        if made_with != embedder:
            raise IndexMismatchError(
                f"the index {self.name} was built with embedder {made_with!r}, not {embedder!r}: "
                "rebuild it (`forge-mcp index --rebuild`, or rag_search after chunk/index with rebuild)")

    def drop_other(self, repo: str, embedder: str) -> None:
        """Delete the collection another embedder built for this repository (it can never be mixed in)."""
        try:
            self.client.delete_collection(collection_name(repo, embedder))
        except Exception:  # already gone: nothing to drop  # noqa: BLE001
            pass

    def reset(self) -> None:
        self.client.delete_collection(self.name)
        self.collection = self.client.get_or_create_collection(
            self.name, embedding_function=None, metadata={"embedder": self.embedder, "hnsw:space": "cosine"})

    def ids(self) -> set[str]:
        got = self.collection.get(include=[])
        return set(got["ids"])

    def upsert(self, ids: list[str], vectors: list[list[float]], metadatas: list[dict[str, Any]]) -> None:
        for i in range(0, len(ids), 1000):
            self.collection.upsert(ids=ids[i:i + 1000], embeddings=vectors[i:i + 1000],
                                   metadatas=metadatas[i:i + 1000])

    def delete(self, ids: list[str]) -> None:
        for i in range(0, len(ids), 1000):
            self.collection.delete(ids=ids[i:i + 1000])

    def query(self, vector: list[float], n: int, where: dict[str, Any] | None) -> list[tuple[str, float]]:
        """(id, cosine similarity) best first."""
        if n <= 0 or self.collection.count() == 0:
            return []
        got = self.collection.query(query_embeddings=[vector], n_results=n, where=where or None, include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(got["ids"][0], got["distances"][0])]
