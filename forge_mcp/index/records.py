"""What the index stages return: search hits, sync reports and adaptation reports (the tools' results)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class SearchHit(BaseModel):
    path: str
    start_line: int
    end_line: int
    symbol: str = Field(description="Qualified name; empty for module-level code")
    kind: str
    language: str
    score: float = Field(
        description="Hybrid: fused score in [0, 1] (dense and BM25 scores, normalised and "
        "weighted); dense: cosine similarity; lexical: BM25. Higher is better"
    )
    dense_rank: int | None = Field(None, description="1-based rank in the dense list, if there")
    lexical_rank: int | None = Field(None, description="1-based rank in the BM25 list, if there")
    text: str


class AdaptPlan(BaseModel):
    pairs: int = Field(description="Training pairs used (sampled, seeded, when there are more than fit)")
    epochs: int
    max_seq_length: int = Field(description="Tokens per text while training (the index embeds up to 256)")
    batch_size: int
    learning_rate: float
    budget_seconds: float = Field(description="The worker stops here even if the planned steps are not done")
    expected_seconds: float
    reasons: list[str] = Field(default_factory=list)


class AdaptReport(BaseModel):
    embedder: str = Field(description="The embedder the index now uses")
    previous: str = Field(description="The embedder it used before")
    model_path: str
    reused: bool = Field(description="An adapted model for the same pairs and settings existed already")
    pairs: int
    pairs_by_source: dict[str, int]
    hard_negatives: int
    plan: AdaptPlan
    train: dict[str, Any] = Field(default_factory=dict, description="The worker's figures: steps, losses, seconds")
    reembedded: int = Field(0, description="Chunks embedded with the adapted model")
    seconds: float


class SyncReport(BaseModel):
    files_indexed: int = Field(description="Files in the index after the sync")
    files_changed: int = Field(description="Files (re)read and re-chunked in this sync")
    files_removed: int
    chunks: int = Field(description="Chunks in the index after the sync")
    chunks_embedded: int = Field(description="Chunks embedded in this sync (new content only)")
    orphans_removed: int = Field(0, description="Vectors with no catalog entry, removed (crash repair)")
    missing_repaired: int = Field(0, description="Catalog chunks with no vector, re-embedded (crash repair)")
    chunks_reused: int = Field(0, description="New chunks whose vector a killed earlier sync had stored: not embedded")
    vectors_probed: int = Field(
        0,
        description="Stored vectors queried with their own embedding (full syncs: all "
        "after any write, else a rotating sample)",
    )
    unreachable_repaired: int = Field(
        0, description="Vectors dense search could not find with their own embedding, re-added until found"
    )
    unreachable_left: int = Field(0, description="Vectors still unreachable after repair (then rebuild the index)")
    probe_seconds: float = Field(0.0, description="Time spent probing and repairing reachability")
    embedder: str
    seconds: float
    adaptation: AdaptReport | None = Field(
        None,
        description="With adapt: the embedder's adaptation to the repository (pairs, plan, training, re-embedding)",
    )
