"""Mine a commit: list its files, skip what must not be learned, chunk the rest, redact secrets.

Incremental: chunks are cached per (path, git blob id) under a fingerprint of the chunker settings,
so re-mining an unchanged repository parses nothing, and after a change only changed files are parsed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge_mcp.config import MinerConfig
from forge_mcp.errors import RefNotFoundError, RepoError
from forge_mcp.miner.chunker import CHUNKER_VERSION, Chunk, chunk_code
from forge_mcp.miner.docs import chunk_doc
from forge_mcp.miner.files import TreeFile, list_tree, read_blobs, skip_reason_by_content, skip_reason_by_path
from forge_mcp.miner.languages import DOC_LANGUAGES, language_for
from forge_mcp.miner.secrets import redact
from forge_mcp.workspace import Workspace

Progress = Callable[[int, int, str], None]
SKIP_EXAMPLES = 5


@dataclass
class MineStats:
    files_seen: int = 0
    files_chunked: int = 0
    files_parsed: int = 0  # parsed in this run (the rest came from the cache)
    files_reused: int = 0
    files_with_syntax_errors: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)
    chunks_by_language: dict[str, int] = field(default_factory=dict)
    chunks_by_kind: dict[str, int] = field(default_factory=dict)
    secrets_redacted: dict[str, int] = field(default_factory=dict)

    def skip(self, path: str, reason: str) -> None:
        key = reason.split(":", 1)[0]  # "secret: private key file" counts under "secret"
        self.skipped[key] = self.skipped.get(key, 0) + 1
        examples = self.skipped_examples.setdefault(key, [])
        if len(examples) < SKIP_EXAMPLES:
            examples.append(f"{path} ({reason})" if key != reason else path)


@dataclass
class MineResult:
    commit: str
    chunks: list[Chunk]
    stats: MineStats


def fingerprint(cfg: MinerConfig) -> str:
    from forge_mcp.miner import secrets

    key = json.dumps([CHUNKER_VERSION, getattr(secrets, "VERSION", 1), cfg.chunk_budget, cfg.max_file_bytes,
                      sorted(cfg.exclude)])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def resolve_commit(repo_root: Path, ref: str) -> str:
    if not ref.strip() or ref.startswith("-"):
        raise RefNotFoundError(f"invalid ref {ref!r}")
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
                          cwd=repo_root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        if ref == "HEAD":
            raise RepoError(f"{repo_root} has no commits yet: commit code before chunking")
        raise RefNotFoundError(f"{ref!r} is not a commit, branch or tag in this repository")
    return proc.stdout.strip()


def chunk_blob(path: str, data: bytes, cfg: MinerConfig) -> tuple[list[Chunk], dict[str, int]]:
    """Chunk one file's bytes and redact secrets from every chunk; returns (chunks, redactions)."""
    language = language_for(path)
    assert language is not None
    if language in DOC_LANGUAGES.values():
        chunks = chunk_doc(path, data, language, cfg.chunk_budget)
    else:
        chunks = chunk_code(path, data, language, cfg.chunk_budget)
    counts: Counter[str] = Counter()
    if redact(data.decode("utf-8")).total:  # one scan of the file; most files have nothing to redact
        for chunk in chunks:
            _redact_chunk(chunk, counts)
    return chunks, dict(counts)


def _redact_chunk(chunk: Chunk, counts: Counter[str]) -> None:
    # Redact the signature and the body apart so the completion split point stays right.
    cut = chunk.signature_end if chunk.signature_end is not None else len(chunk.text)
    head, tail = redact(chunk.text[:cut]), redact(chunk.text[cut:])
    if head.total or tail.total:
        counts.update(head.counts)
        counts.update(tail.counts)
        chunk.text = head.text + tail.text
        chunk.doc_span = None  # offsets moved; the document task skips this unit
        if chunk.signature_end is not None:
            chunk.signature_end = len(head.text)
        chunk.content_hash = hashlib.sha256(chunk.text.encode("utf-8", "surrogatepass")).hexdigest()
    if chunk.docstring:
        doc = redact(chunk.docstring)
        chunk.docstring = doc.text
        counts.update(doc.counts)


def mine(ws: Workspace, ref: str = "HEAD", progress: Progress | None = None) -> MineResult:
    """Chunk every eligible file of `ref` (default HEAD), reusing cached chunks for unchanged files."""
    with _gc_paused():
        return _mine(ws, ref, progress)


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Tens of thousands of long-lived, acyclic chunk objects: the cyclic collector would only rescan them.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _mine(ws: Workspace, ref: str, progress: Progress | None) -> MineResult:
    cfg = ws.config.miner
    commit = resolve_commit(ws.repo_root, ref)
    files = list_tree(ws.repo_root, commit)
    fp = fingerprint(cfg)
    cache = ws.store.cached_chunks(fp)
    stats = MineStats(files_seen=len(files))
    payloads: dict[str, dict[str, Any]] = {}
    to_read: list[TreeFile] = []
    reused: list[tuple[str, str]] = []
    for f in files:
        reason = skip_reason_by_path(f.path, f.size, cfg.max_file_bytes, cfg.exclude)
        if reason:
            stats.skip(f.path, reason)
        elif (f.path, f.blob) in cache:
            payloads[f.path] = orjson.loads(cache[(f.path, f.blob)])
            reused.append((f.path, f.blob))
        else:
            to_read.append(f)
    fresh: list[tuple[str, str, str]] = []
    by_blob: dict[str, list[TreeFile]] = {}
    for f in to_read:
        by_blob.setdefault(f.blob, []).append(f)
    done = len(files) - len(to_read)
    for blob, data in read_blobs(ws.repo_root, list(by_blob)):
        for f in by_blob[blob]:
            payload, chunks = _payload(f.path, data, cfg)
            payloads[f.path] = payload | {"objects": chunks}
            fresh.append((f.path, f.blob, orjson.dumps(payload).decode()))
            done += 1
            if progress is not None and (done % 25 == 0 or done == len(files)):
                progress(done, len(files), f"chunked {f.path}")
    ws.store.update_chunk_cache(fp, fresh, reused)
    stats.files_parsed = sum(1 for _, _, p in fresh if '"chunks"' in p)
    chunks = _assemble(payloads, stats, commit)
    stats.files_reused = len(reused) - sum(1 for p, _ in reused if "skip" in payloads.get(p, {}))
    if progress is not None:
        progress(len(files), len(files), f"{len(chunks)} chunks from {stats.files_chunked} files")
    return MineResult(commit=commit, chunks=chunks, stats=stats)


def _payload(path: str, data: bytes, cfg: MinerConfig) -> tuple[dict[str, Any], list[Chunk]]:
    """The cache entry for a file (its chunks as rows, or why it was skipped) and the chunks themselves."""
    reason = skip_reason_by_content(data)
    if reason:
        return {"skip": reason}, []
    chunks, redactions = chunk_blob(path, data, cfg)
    return {"chunks": [c.to_row() for c in chunks], "redactions": redactions}, chunks


def _assemble(payloads: dict[str, dict[str, Any]], stats: MineStats, commit: str) -> list[Chunk]:
    chunks: list[Chunk] = []
    languages: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    secrets: Counter[str] = Counter()
    for path in sorted(payloads):
        payload = payloads[path]
        if "skip" in payload:
            stats.skip(path, str(payload["skip"]))
            continue
        stats.files_chunked += 1
        secrets.update(payload.get("redactions", {}))
        file_chunks = payload.get("objects") or [Chunk.from_row(row) for row in payload["chunks"]]
        if any(c.has_errors for c in file_chunks):
            stats.files_with_syntax_errors += 1
        for chunk in file_chunks:
            chunk.commit = commit
            languages[chunk.language] += 1
            kinds[chunk.kind] += 1
        chunks.extend(file_chunks)
    stats.chunks_by_language = dict(sorted(languages.items()))
    stats.chunks_by_kind = dict(sorted(kinds.items()))
    stats.secrets_redacted = dict(sorted(secrets.items()))
    return chunks
