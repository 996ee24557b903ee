from __future__ import annotations

import pytest

from forge_mcp.index.embeddings import MiniLMEmbedder


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    """The real offline embedder, loaded once for the whole session."""
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    return embedder
