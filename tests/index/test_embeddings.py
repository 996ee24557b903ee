"""Embedders: the offline default for real, Ollama's /api/embed at its HTTP boundary (live when reachable)."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from forge_mcp.core.errors import ConfigError, EmbedderError
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.embeddings import OllamaEmbedder, make_embedder
from forge_mcp.index.rag import RagIndex


def test_minilm_is_offline_normalised_and_semantic(minilm) -> None:
    a, b, c = minilm.embed(["charge the credit card", "bill the customer's card", "parse an XML document"])
    assert len(a) == 384 and abs(sum(x * x for x in a) - 1) < 1e-4

    def cos(u, v):
        return sum(x * y for x, y in zip(u, v, strict=True))

    assert cos(a, b) > cos(a, c)


def test_embedder_specs() -> None:
    assert make_embedder("minilm", "http://x").name == "minilm-l6-v2"
    assert make_embedder("ollama:nomic-embed-text", "http://127.0.0.1:11434").name == "ollama:nomic-embed-text"
    with pytest.raises(ConfigError, match="unknown embedder"):
        make_embedder("word2vec", "http://x")


def _ollama_fake(seen: list[dict]) -> httpx.MockTransport:
    """Ollama cannot run here: a hand-written fake of its /api/embed endpoint."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"path": request.url.path, **body})
        if body["model"] != "nomic-embed-text":
            return httpx.Response(404, json={"error": f'model "{body["model"]}" not found, try pulling it first'})
        vectors = [[float(len(t) % 5 + 1), float(t.count("card") + 1), 0.5, float("shop" in t)] for t in body["input"]]
        return httpx.Response(200, json={"model": body["model"], "embeddings": vectors})

    return httpx.MockTransport(handler)


def test_ollama_embedder_over_http(search_repo) -> None:
    import ollama

    seen: list[dict] = []
    client = ollama.Client(host="http://127.0.0.1:11434", transport=_ollama_fake(seen))
    embedder = OllamaEmbedder("nomic-embed-text", "http://127.0.0.1:11434", client=client, batch_size=3)
    vectors = embedder.embed(["a card", "b", "shop card card", "d"])
    assert [v[1] for v in vectors] == [2.0, 1.0, 3.0, 1.0]
    assert [s["path"] for s in seen] == ["/api/embed", "/api/embed"] and len(seen[0]["input"]) == 3
    index = RagIndex(
        Workspace.open(search_repo.path, {"index": {"embedder": "ollama:nomic-embed-text"}}), embedder=embedder
    )
    assert index.sync().chunks_embedded > 0 and index.vectors.name.endswith("ollama-nomic-embed-text")
    missing = OllamaEmbedder(
        "not-pulled",
        "http://127.0.0.1:11434",
        client=ollama.Client(host="http://127.0.0.1:11434", transport=_ollama_fake([])),
    )
    with pytest.raises(EmbedderError, match="not-pulled.*not found"):
        missing.embed(["x"])


def test_unreachable_ollama_is_a_clear_error() -> None:
    with pytest.raises(EmbedderError, match="127.0.0.1:9"):
        OllamaEmbedder("nomic-embed-text", "http://127.0.0.1:9").embed(["x"])


def _live_ollama() -> str | None:
    host = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
    try:
        models = httpx.get(f"{host}/api/tags", timeout=1).json()["models"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    return host if any(m["name"].startswith("nomic-embed-text") for m in models) else None


@pytest.mark.skipif(_live_ollama() is None, reason="no Ollama server with nomic-embed-text at OLLAMA_HOST")
def test_live_ollama_embeddings() -> None:
    embedder = OllamaEmbedder("nomic-embed-text", _live_ollama() or "")
    a, b = embedder.embed(["charge the credit card", "parse XML"])
    assert len(a) == len(b) > 100
