"""BM25 over identifier-split tokens (bm25s: numpy only), rebuilt per sync and swapped in atomically."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from forge_mcp.index.aliases import symbol_words
from forge_mcp.index.tokens import code_tokens


def document_tokens(row: dict[str, Any]) -> list[str]:
    # The path and qualified name count twice: a name is the strongest lexical signal in code search.
    name = f"{row['path']} {row['symbol']} {symbol_words(row['symbol'], row['language'])}"
    return code_tokens(name) * 2 + code_tokens(row["text"])


@dataclass
class LexicalIndex:
    ids: list[str] = field(default_factory=list)
    retriever: Any = None

    @classmethod
    def build(cls, tokens: dict[str, list[str]]) -> LexicalIndex:
        """Index chunks given as id -> tokens (see `document_tokens`)."""
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import: every rebuild logs
        if not tokens:
            return cls([], None)
        retriever = bm25s.BM25()
        retriever.index(list(tokens.values()), show_progress=False)
        return cls(list(tokens), retriever)

    def search(self, query: str, n: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """(id, score) best first, restricted to `allowed` ids when given."""
        if self.retriever is None:
            return []
        terms = [t for t in code_tokens(query) if t in self.retriever.vocab_dict]
        if not terms:
            return []
        import numpy as np

        mask = None
        if allowed is not None:
            mask = np.fromiter((i in allowed for i in self.ids), dtype=np.float32, count=len(self.ids))
            if not mask.any():
                return []
        k = min(n, len(self.ids))
        docs, scores = self.retriever.retrieve([terms], k=k, show_progress=False, weight_mask=mask)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=False) if s > 0]
