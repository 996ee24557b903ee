"""index/vectors.py: the real embedded ChromaDB collection (hand-made vectors: no embedder needed here)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from forge_mcp.core.errors import ConfigError, IndexMismatchError
from forge_mcp.index.vectors import SYNC_THRESHOLD, VectorStore, collection_name


def _unit(*xs: float) -> list[float]:
    norm = math.sqrt(sum(x * x for x in xs))
    return [x / norm for x in xs]


def test_collection_names_are_valid_and_distinct() -> None:
    assert collection_name("shop", "minilm") == "forge-shop-minilm"
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]+[a-zA-Z0-9]", collection_name("my shop!", "ollama:nomic"))
    long_a, long_b = collection_name("r" * 80, "minilm-adapted-aaaa"), collection_name("r" * 80, "minilm-adapted-bbbb")
    assert len(long_a) <= 60 and long_a != long_b


def test_write_query_and_delete(tmp_path: Path) -> None:
    store = VectorStore(tmp_path / "chroma", None, "shop", "fake-3d")
    assert store.count() == 0 and store.query(_unit(1, 0, 0), 3, None) == []
    store.upsert(
        ["a", "b", "c"],
        [_unit(1, 0, 0), _unit(0, 1, 0), _unit(1, 1, 0)],
        [{"language": "python"}, {"language": "go"}, {"language": "python"}],
    )
    assert store.ids() == {"a", "b", "c"} and store.existing(["a", "zz", "c"]) == {"a", "c"}
    hits = store.query(_unit(1, 0.1, 0), 3, None)
    assert [i for i, _ in hits] == ["a", "c", "b"] and hits[0][1] == pytest.approx(0.995, abs=0.01)
    assert [i for i, _ in store.query(_unit(1, 0, 0), 3, {"language": "go"})] == ["b"]
    assert store.nearest_ids([_unit(0, 1, 0), _unit(1, 0, 0)], 1) == [["b"], ["a"]] and store.nearest_ids([], 1) == []
    vector, meta = store.stored(["b"])["b"]
    assert vector == pytest.approx(_unit(0, 1, 0)) and meta == {"language": "go"}
    store.rewrite(["b"], [_unit(0, 0, 1)], [None], readd=True)
    assert store.stored(["b"])["b"][1] is None and store.nearest_ids([_unit(0, 0, 1)], 1) == [["b"]]
    store.delete(["a"])
    assert store.ids() == {"b", "c"}
    store.reset()
    assert store.count() == 0


def test_it_persists_and_refuses_another_embedder(tmp_path: Path) -> None:
    store = VectorStore(tmp_path / "chroma", None, "shop", "fake-3d")
    store.upsert(["a"], [_unit(1, 0, 0)], [{"k": 1}])
    meta = store.collection.metadata
    assert meta["embedder"] == "fake-3d" and meta["hnsw:sync_threshold"] == SYNC_THRESHOLD
    assert VectorStore(tmp_path / "chroma", None, "shop", "fake-3d").ids() == {"a"}
    other = VectorStore(tmp_path / "chroma", None, "shop", "other")  # its own collection
    assert other.count() == 0
    other.drop_other("shop", "fake-3d")
    other.drop_other("shop", "never-made")  # nothing to drop: no error
    assert VectorStore(tmp_path / "chroma", None, "shop", "fake-3d").count() == 0


def test_a_collection_made_by_another_embedder_is_refused(tmp_path: Path) -> None:
    store = VectorStore(tmp_path / "chroma", None, "shop", "fake-3d")
    store.client.delete_collection(store.name)
    store.client.create_collection(store.name, embedding_function=None, metadata={"embedder": "someone-else"})
    with pytest.raises(IndexMismatchError, match="built with embedder 'someone-else', not 'fake-3d'"):
        VectorStore(tmp_path / "chroma", None, "shop", "fake-3d")


def test_a_server_url_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        VectorStore(tmp_path / "chroma", "ftp://example.invalid", "shop", "fake-3d")
