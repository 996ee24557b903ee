"""Mine a commit: list its files, skip what must not be learned, chunk the rest, redact secrets.

Incremental: chunks are cached per (path, git blob id) under a fingerprint of the chunker settings,
so re-mining an unchanged repository parses nothing, and after a change only changed files are parsed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from forge_mcp.core.config import MinerConfig
from forge_mcp.core.errors import RefNotFoundError, RepoError, quoted
from forge_mcp.core.kinds import Progress
from forge_mcp.core.repo import check_ref
from forge_mcp.core.workspace import Workspace
from forge_mcp.miner import secrets
from forge_mcp.miner.blob import file_payload
from forge_mcp.miner.chunker import CHUNKER_VERSION, Chunk
from forge_mcp.miner.files import TreeFile, blob_sizes, list_tree, read_blobs, skip_reason_by_path
from forge_mcp.miner.parallel import chunk_in_processes, plan_workers

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

    key = json.dumps(
        [CHUNKER_VERSION, getattr(secrets, "VERSION", 1), cfg.chunk_budget, cfg.max_file_bytes, sorted(cfg.exclude)]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def resolve_commit(repo_root: Path, ref: str) -> str:
    check_ref(ref)
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        if ref == "HEAD":
            raise RepoError(f"{repo_root} has no commits yet: commit code before chunking")
        raise RefNotFoundError(f"{quoted(ref)} is not a commit, branch or tag in this repository")
    return proc.stdout.strip()


DEFAULT_REF = "HEAD"  # chunk the last commit unless told which


def mine(ws: Workspace, ref: str = DEFAULT_REF, progress: Progress | None = None) -> MineResult:
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
        # Hand the new objects to the oldest generation unscanned (freeze, then unfreeze into it): otherwise
        # the first allocation after enable() pays a young-generation pass over all of them (~50 ms per 60k).
        gc.freeze()
        gc.unfreeze()
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
        reason = skip_reason_by_path(f.path, 0, cfg.max_file_bytes, cfg.exclude)  # sizes: below, uncached only
        if reason:
            stats.skip(f.path, reason)
        elif (f.path, f.blob) in cache:
            payloads[f.path] = orjson.loads(cache[(f.path, f.blob)])
            reused.append((f.path, f.blob))
        else:
            to_read.append(f)
    sizes = blob_sizes(ws.repo_root, (f.blob for f in to_read))
    for f in [f for f in to_read if sizes[f.blob] > cfg.max_file_bytes]:
        stats.skip(f.path, "huge")
    to_read = [f for f in to_read if sizes[f.blob] <= cfg.max_file_bytes]
    tick = _counter(progress, len(files) - len(to_read), len(files))
    fresh = _chunk_fresh(ws, to_read, sum(sizes[f.blob] for f in to_read), payloads, tick)
    ws.store.update_chunk_cache(fp, fresh, reused)
    stats.files_parsed = sum(1 for _, _, p in fresh if '"chunks"' in p)
    chunks = _assemble(payloads, stats, commit)
    stats.files_reused = len(reused) - sum(1 for p, _ in reused if "skip" in payloads.get(p, {}))
    if progress is not None:
        progress(len(files), len(files), f"{len(chunks)} chunks from {stats.files_chunked} files")
    return MineResult(commit=commit, chunks=chunks, stats=stats)


def _counter(progress: Progress | None, done: int, total: int) -> Callable[[int, str], None]:
    """A callback that counts files chunked and reports every 25th (and the last)."""
    state = [done]

    def tick(n: int, path: str) -> None:
        before, state[0] = state[0], state[0] + n
        if progress is not None and (state[0] // 25 != before // 25 or state[0] == total):
            progress(state[0], total, f"chunked {path}")

    return tick


def _chunk_fresh(
    ws: Workspace,
    to_read: list[TreeFile],
    total_bytes: int,
    payloads: dict[str, dict[str, Any]],
    tick: Callable[[int, str], None],
) -> list[tuple[str, str, str]]:
    """Read and chunk the files not in the cache (in worker processes when there are many); fills
    `payloads` and returns the new cache rows (path, blob, entry JSON)."""
    cfg = ws.config.miner
    by_blob: dict[str, list[TreeFile]] = {}
    for f in to_read:
        by_blob.setdefault(f.blob, []).append(f)
    blob_of = {f.path: f.blob for f in to_read}
    items = ((f.path, data) for blob, data in read_blobs(ws.repo_root, list(by_blob)) for f in by_blob[blob])
    fresh: list[tuple[str, str, str]] = []
    workers = plan_workers(cfg.processes, total_bytes, len(to_read))
    if workers > 1:
        for path, entry in chunk_in_processes(items, cfg.chunk_budget, workers, tick):
            payloads[path] = orjson.loads(entry)  # its Chunk objects are built from the rows in _assemble
            fresh.append((path, blob_of[path], entry.decode()))
        return fresh
    for path, data in items:
        payload, chunks = file_payload(path, data, cfg.chunk_budget)
        payloads[path] = payload | {"objects": chunks}
        fresh.append((path, blob_of[path], orjson.dumps(payload).decode()))
        tick(1, path)
    return fresh


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
