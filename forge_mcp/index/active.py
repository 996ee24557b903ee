"""Which embedder an index uses, and switching it without a gap in search.

The store's meta records the embedder whose vectors the index holds. The configured one is the stock
embedder of `[index] embedder`, or, with `[index] adapt`, the adapted copy the index last switched to (while
its model exists). A different embedder of the same family (stock MiniLM and its adapted copies) is not a
mismatch: the index keeps serving with the recorded one and re-embeds into a new collection on the next
full sync, then swaps. A model that is gone falls back to the stock one, re-embedded the same way.
"""

from __future__ import annotations

from forge_mcp.core.kinds import Progress
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.aliases import document_text
from forge_mcp.index.catalog import Catalog, vector_metadata
from forge_mcp.index.embeddings import MINILM, Embedder, adapted_embedder, is_adapted, make_embedder
from forge_mcp.index.vectors import VectorStore

EMBEDDER_KEY = "index_embedder"
BATCH = 64


def family(name: str) -> str:
    return name.split("+", 1)[0]


def configured_embedder(ws: Workspace) -> Embedder:
    """The embedder the configuration asks for, given what the index already holds."""
    cfg = ws.config.index
    stock = make_embedder(cfg.embedder, cfg.ollama_host)
    recorded = ws.store.get_meta(EMBEDDER_KEY)
    if cfg.adapt and stock.name == MINILM and recorded and is_adapted(recorded) and family(recorded) == MINILM:
        adapted = adapted_embedder(ws, recorded)
        if adapted is not None:
            return adapted
    return stock


def serving_embedder(ws: Workspace, recorded: str, wanted: Embedder) -> Embedder | None:
    """The embedder to keep serving with until a switch to `wanted` completes: the recorded one when it is of
    the same family and still loadable; None when it is not of that family (a real mismatch) or is gone."""
    if family(recorded) != family(wanted.name):
        return None
    if is_adapted(recorded):
        return adapted_embedder(ws, recorded)
    cfg = ws.config.index
    return make_embedder(cfg.embedder, cfg.ollama_host)


def reembed_all(ws: Workspace, catalog: Catalog, new: Embedder, progress: Progress | None) -> VectorStore:
    """Every catalog chunk embedded with `new` into its own, fresh collection (the index keeps serving)."""
    cfg = ws.config.index
    target = VectorStore(ws.chroma_dir, cfg.chroma_url, ws.name, new.name)
    target.reset()  # a killed switch's partial collection is never trusted
    rows = catalog.rows()
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        target.upsert(
            [r["id"] for r in batch], new.embed([document_text(r) for r in batch]), [vector_metadata(r) for r in batch]
        )
        if progress:
            progress(
                start + len(batch), len(rows), f"re-embedded {start + len(batch)}/{len(rows)} chunks with {new.name}"
            )
    return target


def catch_up(catalog: Catalog, target: VectorStore, new: Embedder) -> int:
    """Chunks that changed while `target` was filled: embed the missing, drop the gone. Returns how many."""
    have, want = target.ids(), catalog.chunk_ids()
    gone = [i for i in have if i not in want]
    if gone:
        target.delete(gone)
    missing = catalog.rows([i for i in want if i not in have])
    if missing:
        target.upsert(
            [r["id"] for r in missing],
            new.embed([document_text(r) for r in missing]),
            [vector_metadata(r) for r in missing],
        )
    return len(missing) + len(gone)
