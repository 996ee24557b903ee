"""One file's bytes to chunks with secrets redacted: the unit of work of the Miner and the index.

Kept free of the config and workspace modules, so chunking worker processes start quickly.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from forge_mcp.miner.chunker import Chunk, chunk_code
from forge_mcp.miner.docs import chunk_doc
from forge_mcp.miner.files import skip_reason_by_content
from forge_mcp.miner.languages import DOC_LANGUAGES, language_for
from forge_mcp.miner.secrets import redact


def chunk_blob(path: str, data: bytes, budget: int) -> tuple[list[Chunk], dict[str, int]]:
    """Chunk one file's bytes and redact secrets from every chunk; returns (chunks, redactions)."""
    language = language_for(path)
    assert language is not None
    if language in DOC_LANGUAGES.values():
        chunks = chunk_doc(path, data, language, budget)
    else:
        chunks = chunk_code(path, data, language, budget)
    counts: Counter[str] = Counter()
    if redact(data.decode("utf-8"), path).total:  # one scan of the file; most files have nothing to redact
        for chunk in chunks:
            _redact_chunk(chunk, counts, path)
    return chunks, dict(counts)


def _redact_chunk(chunk: Chunk, counts: Counter[str], path: str) -> None:
    # Redact the signature and the body apart so the completion split point stays right; the path turns on
    # the rules that only apply to some files (Terraform, nuget.config, Kubernetes manifests).
    cut = chunk.signature_end if chunk.signature_end is not None else len(chunk.text)
    head, tail = redact(chunk.text[:cut], path), redact(chunk.text[cut:], path)
    if head.total or tail.total:
        counts.update(head.counts)
        counts.update(tail.counts)
        chunk.text = head.text + tail.text
        chunk.doc_span = None  # offsets moved; the document task skips this unit
        if chunk.signature_end is not None:
            chunk.signature_end = len(head.text)
        chunk.content_hash = hashlib.sha256(chunk.text.encode("utf-8", "surrogatepass")).hexdigest()
    if chunk.docstring:
        doc = redact(chunk.docstring, path)
        chunk.docstring = doc.text
        counts.update(doc.counts)


def file_payload(path: str, data: bytes, budget: int) -> tuple[dict[str, Any], list[Chunk]]:
    """The cache entry for a file (its chunks as rows, or why it was skipped) and the chunks themselves."""
    reason = skip_reason_by_content(data)
    if reason:
        return {"skip": reason}, []
    chunks, redactions = chunk_blob(path, data, budget)
    return {"chunks": [c.to_row() for c in chunks], "redactions": redactions}, chunks
