"""index.active: which embedder an index is configured for and serves with, and re-embedding into a new collection."""

from __future__ import annotations

import pytest

from forge_mcp.core.workspace import Workspace
from forge_mcp.index.active import (
    EMBEDDER_KEY,
    catch_up,
    configured_embedder,
    family,
    reembed_all,
    serving_embedder,
)
from forge_mcp.index.aliases import document_text
from forge_mcp.index.catalog import Catalog, vector_metadata
from forge_mcp.index.embeddings import MINILM, MiniLMEmbedder, minilm_path
from forge_mcp.index.rag import RagIndex
from forge_mcp.index.vectors import VectorStore
from tests.conftest import GitRepo

ADAPTED = f"{MINILM}+0123456789ab"


def with_adapted_model(ws: Workspace, name: str = ADAPTED) -> None:
    """An adapted copy on disk where index/adapt.py publishes it (here the stock model's folder, linked)."""
    folder = ws.embedders_dir / name
    folder.mkdir(parents=True)
    (folder / "model").symlink_to(minilm_path(), target_is_directory=True)


def adapt_on(repo: GitRepo, **index: object) -> Workspace:
    return Workspace.open(repo.path, {"index": {"adapt": True} | index})


def test_family() -> None:
    assert family(ADAPTED) == family(MINILM) == MINILM
    assert family("ollama:nomic-embed-text") == "ollama:nomic-embed-text"


def test_configured_is_stock_unless_adapt_has_switched_to_an_existing_copy(repo: GitRepo) -> None:
    plain = Workspace.open(repo.path)
    assert configured_embedder(plain).name == MINILM
    plain.store.set_meta(EMBEDDER_KEY, ADAPTED)
    with_adapted_model(plain)
    assert configured_embedder(plain).name == MINILM  # [index] adapt is off: the stock model
    adapted = configured_embedder(adapt_on(repo))
    assert isinstance(adapted, MiniLMEmbedder) and adapted.name == ADAPTED
    assert adapted.path == plain.embedders_dir / ADAPTED / "model"
    (plain.embedders_dir / ADAPTED / "model").unlink()  # the copy is gone: back to the stock one
    assert configured_embedder(adapt_on(repo)).name == MINILM
    assert configured_embedder(adapt_on(repo, embedder="ollama:nomic-embed-text")).name == "ollama:nomic-embed-text"


def test_serving_keeps_the_recorded_embedder_of_the_same_family(repo: GitRepo) -> None:
    ws = adapt_on(repo)
    stock = MiniLMEmbedder()
    with_adapted_model(ws)
    adapted = MiniLMEmbedder(path=ws.embedders_dir / ADAPTED / "model", name=ADAPTED)
    serving = serving_embedder(ws, MINILM, adapted)
    assert serving is not None and serving.name == MINILM
    serving = serving_embedder(ws, ADAPTED, stock)
    assert serving is not None and serving.name == ADAPTED
    assert serving_embedder(ws, f"{MINILM}+ffffffffffff", stock) is None  # recorded copy gone
    assert serving_embedder(ws, "ollama:nomic-embed-text", stock) is None  # another family: a real mismatch


@pytest.fixture
def indexed(search_repo: GitRepo, minilm: MiniLMEmbedder) -> Workspace:
    ws = Workspace.open(search_repo.path)
    RagIndex(ws, embedder=minilm).sync()
    return ws


def new_embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(path=minilm_path(), name=ADAPTED)  # the real model under an adapted name


def test_reembed_all_fills_a_fresh_collection(indexed: Workspace) -> None:
    catalog, new = Catalog(indexed.store), new_embedder()
    cfg = indexed.config.index
    stale = VectorStore(indexed.chroma_dir, cfg.chroma_url, indexed.name, new.name)
    stale.upsert(["left-over"], [[0.0] * 384], [{"path": "gone.py"}])  # a killed switch's partial collection
    steps: list[tuple[int, int]] = []
    target = reembed_all(indexed, catalog, new, lambda done, total, _msg: steps.append((done, total)))
    rows = catalog.rows()
    assert target.ids() == set(catalog.chunk_ids()) and steps[-1] == (len(rows), len(rows))
    stored = target.stored([r["id"] for r in rows])
    expected = new.embed([document_text(r) for r in rows])
    for row, vector in zip(rows, expected, strict=True):
        got, metadata = stored[row["id"]]
        assert got == pytest.approx(vector, abs=1e-5) and metadata == vector_metadata(row)
    serving = VectorStore(indexed.chroma_dir, cfg.chroma_url, indexed.name, MINILM)
    assert serving.ids() == target.ids()  # the serving collection is untouched
    assert indexed.store.get_meta(EMBEDDER_KEY) == MINILM


def test_catch_up_adds_what_is_missing_and_drops_what_is_gone(indexed: Workspace) -> None:
    catalog, new = Catalog(indexed.store), new_embedder()
    target = reembed_all(indexed, catalog, new, None)
    ids = sorted(catalog.chunk_ids())
    target.delete(ids[:2])
    target.upsert(["gone-chunk"], [[0.0] * 384], [{"path": "gone.py"}])
    assert catch_up(catalog, target, new) == 3
    assert target.ids() == set(ids)
    assert catch_up(catalog, target, new) == 0
