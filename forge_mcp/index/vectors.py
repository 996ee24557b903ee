"""The vector side of the index: a ChromaDB collection, embedded (PersistentClient) or a server (HttpClient).

We always pass embeddings ourselves (Chroma's default embedding function would download a model). The
collection's metadata records which embedder made it; opening it with another is refused, never mixed.

The HNSW graph is saved after every write (`sync_threshold` 3, Chroma's least; its default is 1000). With the
default, up to 999 writes live only in Chroma's log and are replayed, in parallel and so in a different
order, each time a process opens the store: the graph a search sees then differs from run to run, and a
vector that a sync found and repaired can be unreachable again in the next process (measured on 1.5.9;
bench/README.md, index-kill section). Saving costs nothing measurable (Chroma writes the changed elements).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from forge_mcp.core.errors import ConfigError, IndexMismatchError

log = logging.getLogger(__name__)
SYNC_THRESHOLD = 3


def _client(path: Path, url: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"chroma_url {url!r} is not an http(s) URL")
        return chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=settings,
        )
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def collection_name(repo: str, embedder: str) -> str:
    """One collection per repository and embedder (a Chroma server may hold many repositories)."""
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", f"forge-{repo}-{embedder}").strip("-_")
    if len(slug) > 60:  # cut, but keep distinct names distinct (an adapted embedder differs only at the end)
        digest = hashlib.sha256(f"{repo}\0{embedder}".encode("utf-8", "surrogatepass")).hexdigest()[:12]
        slug = f"{slug[:47].rstrip('-_')}-{digest}"
    return slug if len(slug) >= 3 else f"forge-{slug}"


class VectorStore:
    def __init__(self, path: Path, url: str | None, repo: str, embedder: str) -> None:
        self.client = _client(path, url)
        # One collection per repository and embedder (a server may hold many repositories).
        self.name = collection_name(repo, embedder)
        self.embedder = embedder
        self.collection = self.client.get_or_create_collection(
            self.name, embedding_function=None, metadata=_metadata(embedder)
        )
        made_with = (self.collection.metadata or {}).get("embedder")
        if made_with != embedder:
            raise IndexMismatchError(
                f"the index {self.name} was built with embedder {made_with!r}, not {embedder!r}: "
                "rebuild it (`forge-mcp index --rebuild`, or rag_search after chunk/index with rebuild)"
            )
        self._save_every_write()

    def _save_every_write(self) -> None:
        """Lower `sync_threshold` on a collection an older forge-mcp created (it applies from the next open)."""
        hnsw = (getattr(self.collection, "configuration_json", None) or {}).get("hnsw") or {}
        if hnsw.get("sync_threshold", SYNC_THRESHOLD) == SYNC_THRESHOLD:
            return
        try:
            self.collection.modify(
                configuration={"hnsw": {"sync_threshold": SYNC_THRESHOLD, "batch_size": SYNC_THRESHOLD}}
            )
        except Exception as exc:  # an older server may refuse: the probe still repairs, less durably
            log.warning("cannot lower the HNSW sync threshold of %s: %s", self.name, exc, exc_info=True)

    def drop_other(self, repo: str, embedder: str) -> None:
        """Delete the collection another embedder built for this repository (it can never be mixed in)."""
        from chromadb.errors import NotFoundError as CollectionMissing

        try:
            self.client.delete_collection(collection_name(repo, embedder))
        except CollectionMissing:  # already gone: nothing to drop
            pass

    def reset(self) -> None:
        self.client.delete_collection(self.name)
        self.collection = self.client.get_or_create_collection(
            self.name, embedding_function=None, metadata=_metadata(self.embedder)
        )

    def ids(self) -> set[str]:
        got = self.collection.get(include=[])
        return set(got["ids"])

    def existing(self, ids: Iterable[str]) -> set[str]:
        """The ids among `ids` that already have a vector (a killed sync's work: ids are content-addressed, so a
        vector stored under an id stays valid for that id with the same embedder)."""
        wanted = list(ids)
        found: set[str] = set()
        for i in range(0, len(wanted), 1000):
            found.update(self.collection.get(ids=wanted[i : i + 1000], include=[])["ids"])
        return found

    def stored(self, ids: Sequence[str]) -> dict[str, tuple[list[float] | None, dict[str, Any] | None]]:
        """id -> (stored embedding, metadata), for the ids that exist; the embedding is None where Chroma
        cannot give it back."""
        out: dict[str, tuple[list[float] | None, dict[str, Any] | None]] = {}
        for i in range(0, len(ids), 500):
            got = self.collection.get(ids=list(ids[i : i + 500]), include=["embeddings", "metadatas"])
            embeddings = got.get("embeddings")
            metadatas = got.get("metadatas") or [None] * len(got["ids"])
            for n, chunk_id in enumerate(got["ids"]):
                vector = None if embeddings is None or embeddings[n] is None else [float(x) for x in embeddings[n]]
                out[chunk_id] = (vector, dict(metadatas[n]) if metadatas[n] else None)
        return out

    def nearest_ids(self, vectors: Sequence[Sequence[float]], n: int) -> list[list[str]]:
        """The ids of the `n` nearest vectors for each query vector, in one batched query."""
        if not vectors:
            return []
        got = self.collection.query(query_embeddings=[list(v) for v in vectors], n_results=n, include=[])
        return [list(found) for found in got["ids"]]

    def count(self) -> int:
        return int(self.collection.count())

    def rewrite(
        self, ids: list[str], vectors: list[list[float]], metadatas: list[dict[str, Any] | None], readd: bool = False
    ) -> None:
        """Write vectors again under the same ids, which re-links them into the HNSW graph (index/integrity.py):
        an upsert (the point's neighbour lists are rebuilt; an id the graph lost is added), or with `readd` a
        delete then an add (a new point). A failed add after the delete leaves catalog chunks without a
        vector, which the next full sync re-embeds."""
        if readd:
            self.delete(ids)
        write = self.collection.add if readd else self.collection.upsert
        for i in range(0, len(ids), 1000):
            part = metadatas[i : i + 1000]
            write(
                ids=ids[i : i + 1000],
                embeddings=vectors[i : i + 1000],
                metadatas=part if all(part) else None,
            )  # Chroma refuses an empty metadata dict

    def upsert(self, ids: list[str], vectors: list[list[float]], metadatas: list[dict[str, Any]]) -> None:
        for i in range(0, len(ids), 1000):
            self.collection.upsert(
                ids=ids[i : i + 1000], embeddings=vectors[i : i + 1000], metadatas=metadatas[i : i + 1000]
            )

    def delete(self, ids: list[str]) -> None:
        for i in range(0, len(ids), 1000):
            self.collection.delete(ids=ids[i : i + 1000])

    def query(self, vector: list[float], n: int, where: dict[str, Any] | None) -> list[tuple[str, float]]:
        """(id, cosine similarity) best first."""
        if n <= 0 or self.collection.count() == 0:
            return []
        got = self.collection.query(query_embeddings=[vector], n_results=n, where=where or None, include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(got["ids"][0], got["distances"][0], strict=False)]


def _metadata(embedder: str) -> dict[str, Any]:
    return {
        "embedder": embedder,
        "hnsw:space": "cosine",
        "hnsw:sync_threshold": SYNC_THRESHOLD,
        "hnsw:batch_size": SYNC_THRESHOLD,
    }
