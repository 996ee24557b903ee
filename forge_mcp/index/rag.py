"""The RAG index of one repository: sync from the working tree, and hybrid search.

Sync is incremental and crash-safe: a file is re-read only when its size or mtime moved (and
re-chunked only when its content hash changed); only chunks whose id (path, symbol, content hash) is new
are embedded, and not even those when a killed earlier sync already stored their vector (the id is
content-addressed). Vectors are written before the catalog, a group of whole files at a time, so a process
killed mid-sync loses at most the group in flight and leaves at worst orphan vectors, which the next full
sync removes (it also re-embeds anything missing, and probes dense reachability: index/integrity.py).
Search fuses dense (Chroma) and lexical (BM25) scores, normalised and weighted (convex; `fusion = "rrf"` for ranks).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from forge_mcp.core.errors import IndexMismatchError, SearchError, quoted
from forge_mcp.core.kinds import Progress, SearchMode
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.active import EMBEDDER_KEY, catch_up, configured_embedder, family, reembed_all, serving_embedder
from forge_mcp.index.aliases import document_text, symbol_words
from forge_mcp.index.catalog import Catalog, FileState, chunk_row, vector_metadata
from forge_mcp.index.embeddings import Embedder
from forge_mcp.index.integrity import Probe, check_reachability, mark_probe_due
from forge_mcp.index.lexical import LexicalIndex, document_tokens
from forge_mcp.index.records import SearchHit, SyncReport
from forge_mcp.index.sources import list_worktree, read_and_chunk
from forge_mcp.index.vectors import VectorStore

log = logging.getLogger(__name__)
MAX_QUERY_CHARS = 2000
LAST_SYNC_KEY = "index_last_sync"
TEXT_VERSION_KEY = "index_text_version"
COMMIT_CHUNKS = 128  # new chunks embedded per catalog commit (whole files: a group may hold a few more)
TEXT_VERSION = 2  # 2: conventional names (`__getitem__`, constructors) carry plain words (index/aliases.py)
DEFAULT_K = 10  # hits a search returns unless asked for more or fewer
DEFAULT_MODE: SearchMode = "hybrid"
KINDS = {"function", "method", "class", "type", "namespace", "module", "section"}


@dataclass
class _Pending:
    files: list[tuple[FileState, list[dict[str, Any]]]] = field(default_factory=list)  # re-chunked, with chunks
    touched: list[FileState] = field(default_factory=list)  # stat moved, content did not


class RagIndex:
    def __init__(self, ws: Workspace, embedder: Embedder | None = None, rebuild: bool = False) -> None:
        """Open the index; `rebuild` drops it (vectors and catalog) first, e.g. after changing embedder."""
        cfg = ws.config.index
        self.ws = ws
        wanted = embedder or configured_embedder(ws)
        self.catalog = Catalog(ws.store)
        previous = ws.store.get_meta(EMBEDDER_KEY)
        # Searches keep the embedder whose vectors exist until a full sync has re-embedded for the wanted one.
        self.switch_to: Embedder | None = None
        serving = wanted
        if previous and previous != wanted.name and not rebuild:
            if family(previous) != family(wanted.name):
                raise IndexMismatchError(
                    f"the index was built with the embedder {previous!r}, but {wanted.name!r} is configured: "
                    "rebuild it (`forge-mcp index --rebuild`, or the index_repo tool with rebuild=true)"
                )
            serving = serving_embedder(ws, previous, wanted) or wanted  # gone: the next sync re-embeds (repair)
            self.switch_to = wanted if serving is not wanted else None
        self._serving = (serving, VectorStore(ws.chroma_dir, cfg.chroma_url, ws.name, serving.name))
        if rebuild:
            if previous and previous != serving.name:
                self.vectors.drop_other(ws.name, previous)
            self.vectors.reset()
            self.catalog.clear()
        ws.store.set_meta(EMBEDDER_KEY, serving.name)
        self._sync_lock = threading.RLock()
        self._lexical = LexicalIndex()
        self._tokens: dict[str, list[str]] = {}
        self._lexical_ready = False
        self._marked = False

    @property
    def embedder(self) -> Embedder:
        return self._serving[0]

    @property
    def vectors(self) -> VectorStore:
        return self._serving[1]

    # -- sync ------------------------------------------------------------------------------------
    def sync(self, paths: Sequence[str] | None = None, progress: Progress | None = None) -> SyncReport:
        """Bring the index up to date: all files (and repair drift) when `paths` is None, else just those."""
        with self._sync_lock:
            started, self._marked = time.perf_counter(), False
            if paths is None and self.switch_to is not None:
                self.switch_embedder(self.switch_to, progress)
            upgraded = self._upgrade_text()
            known = self.catalog.files()
            current = list_worktree(self.ws.repo_root, self.ws.state_dir, self.ws.config.miner, paths)
            scope = set(known) | set(current) if paths is None else set(paths)
            removed = [p for p in scope if p in known and p not in current]
            pending = self._read(self._moved(scope, known, current), current, known, progress)
            old_ids = self.catalog.chunk_ids([*(f.path for f, _ in pending.files), *removed])
            embedded, reused = self._store(pending.files, removed, old_ids, progress)
            if pending.touched:
                self.catalog.touch(pending.touched)
            orphans = missing = 0
            probe = Probe()
            if paths is None:
                orphans, missing = self._repair()
                probe = check_reachability(self.ws.store, self.vectors, list(self.catalog.chunk_ids()), self._reembed)
            self._update_lexical(set(old_ids), [r for _, rows in pending.files for r in rows], full=paths is None)
            report = SyncReport(
                files_indexed=len(self.catalog.files()),
                files_changed=len(pending.files),
                files_removed=len(removed),
                chunks=len(self._lexical.ids),
                chunks_embedded=embedded + upgraded,
                chunks_reused=reused,
                orphans_removed=orphans,
                missing_repaired=missing,
                vectors_probed=probe.probed,
                unreachable_repaired=probe.repaired,
                unreachable_left=probe.left,
                probe_seconds=probe.seconds,
                embedder=self.embedder.name,
                seconds=round(time.perf_counter() - started, 3),
            )
            self.ws.store.set_meta(LAST_SYNC_KEY, report.model_dump_json())
            return report

    def switch_embedder(self, new: Embedder, progress: Progress | None = None) -> int:
        """Embed every chunk with `new` into its own collection while searches keep using the current one,
        then swap (recording `new` as the index's embedder) and drop the old vectors. Returns chunks embedded."""
        if new.name == self.embedder.name:
            return 0
        target = reembed_all(self.ws, self.catalog, new, progress)
        with self._sync_lock:
            count = len(target.ids()) + catch_up(self.catalog, target, new)
            old = self.embedder.name
            self._serving = (new, target)  # one assignment: a search reads both at once (_dense)
            self.ws.store.set_meta(EMBEDDER_KEY, new.name)
            self.switch_to = None
            target.drop_other(self.ws.name, old)
            mark_probe_due(self.ws.store)
        log.info("index of %s switched from %s to %s (%d chunks)", self.ws.name, old, new.name, count)
        return count

    def _upgrade_text(self) -> int:
        """Re-embed the chunks whose embedded text an older forge-mcp wrote differently; returns how many."""
        if int(self.ws.store.get_meta(TEXT_VERSION_KEY) or 1) >= TEXT_VERSION:
            return 0
        stale = [r for r in self.catalog.rows() if symbol_words(r["symbol"], r["language"])]
        self._embed_new(stale, set(), None)
        self.ws.store.set_meta(TEXT_VERSION_KEY, str(TEXT_VERSION))
        return len(stale)

    @staticmethod
    def _moved(scope: set[str], known: dict[str, FileState], current: dict[str, Any]) -> list[str]:
        """Paths to re-read: new, or size/mtime moved (unchanged stat data is trusted, as Continue does)."""
        moved: list[str] = []
        for path in sorted(scope):
            now, before = current.get(path), known.get(path)
            if now is not None and (before is None or (before.size, before.mtime_ns) != (now.size, now.mtime_ns)):
                moved.append(path)
        return moved

    def _read(
        self, moved: list[str], current: dict[str, Any], known: dict[str, FileState], progress: Progress | None
    ) -> _Pending:
        pending = _Pending()
        for n, path in enumerate(moved, start=1):
            info, before = current[path], known.get(path)
            try:
                digest, chunks, skipped = read_and_chunk(
                    self.ws.repo_root, path, self.ws.config.miner, before.sha256 if before else None
                )
            except OSError as exc:  # deleted or unreadable since it was listed: the next sync sees it
                log.info("skipping %s: %s", path, exc)
                continue
            if chunks is None and before is not None:  # touched, same content: remember the new stat only
                pending.touched.append(FileState(path, digest, info.size, info.mtime_ns, before.skipped))
                continue
            pending.files.append(
                (FileState(path, digest, info.size, info.mtime_ns, skipped), [chunk_row(c) for c in chunks or []])
            )
            if progress and (n % 20 == 0 or n == len(moved)):
                progress(n, len(moved) * 2, f"chunked {path}")
        return pending

    def _store(
        self,
        files: list[tuple[FileState, list[dict[str, Any]]]],
        removed: list[str],
        old: dict[str, str],
        progress: Progress | None,
    ) -> tuple[int, int]:
        """Embed new chunks and record them a group of whole files at a time: the group's vectors, then its
        catalog rows (one transaction), then its replaced vectors deleted. Chunks whose vector is already
        stored (a killed sync's work) are reused. Returns (embedded, reused)."""
        fresh = {r["id"] for _, rows in files for r in rows if r["id"] not in old}
        stored = self.vectors.existing(fresh)
        skip, todo = set(old) | stored, len(fresh - stored)
        if fresh:
            log.debug("embedding %d new chunks (%d already stored by an earlier sync)", todo, len(stored))
        groups: list[list[tuple[FileState, list[dict[str, Any]]]]] = [[]]
        size = 0
        for entry in files:
            if size >= COMMIT_CHUNKS:
                groups.append([])
                size = 0
            groups[-1].append(entry)
            size += sum(1 for r in entry[1] if r["id"] not in skip)
        done = 0
        for n, group in enumerate(groups, start=1):
            rows = [r for _, group_rows in group for r in group_rows]
            done += self._embed_new(rows, skip, progress, done, todo)
            paths = [state.path for state, _ in group] + (removed if n == len(groups) else [])
            if not paths:
                continue
            self.catalog.replace(paths, [state for state, _ in group], rows)
            keep, replaced = {r["id"] for r in rows}, set(paths)
            gone = [i for i, path in old.items() if path in replaced and i not in keep]
            if gone:
                self._mark_writing()
                self.vectors.delete(gone)
            log.debug("committed %d files (group %d/%d); embedded %d/%d chunks", len(group), n, len(groups), done, todo)
        return done, len(stored)

    def _embed_new(
        self,
        rows: list[dict[str, Any]],
        already: set[str],
        progress: Progress | None,
        done: int = 0,
        total: int | None = None,
    ) -> int:
        """Embed and store the chunks whose id is not in `already` (unchanged chunks keep their vectors);
        `done` of `total` are the sync's counts so far, for progress. Returns how many were embedded."""
        fresh = [r for r in rows if r["id"] not in already]
        fresh = list({r["id"]: r for r in fresh}.values())
        total = len(fresh) if total is None else total
        if fresh:
            self._mark_writing()
        for start in range(0, len(fresh), 64):
            batch = fresh[start : start + 64]
            vectors = self.embedder.embed([document_text(r) for r in batch])
            self.vectors.upsert([r["id"] for r in batch], vectors, [vector_metadata(r) for r in batch])
            count = done + start + len(batch)
            log.debug("embedded %d/%d chunks", count, total)
            if progress:
                progress(total + count, total * 2, f"embedded {count}/{total} chunks")
        return len(fresh)

    def _mark_writing(self) -> None:
        """Before the first vector write of a sync: the next full sync probes every vector."""
        if not self._marked:
            mark_probe_due(self.ws.store)
            self._marked = True

    def _repair(self) -> tuple[int, int]:
        in_vectors = self.vectors.ids()
        in_catalog = self.catalog.chunk_ids()
        orphans = [i for i in in_vectors if i not in in_catalog]
        if orphans:
            self._mark_writing()
            self.vectors.delete(orphans)
        missing = [i for i in in_catalog if i not in in_vectors]
        if missing:
            self._embed_new(self.catalog.rows(missing), set(), None)
        return len(orphans), len(missing)

    def _reembed(self, ids: list[str]) -> dict[str, tuple[list[float], dict[str, Any]]]:
        """Vectors for catalog chunks whose stored embedding Chroma cannot return."""
        rows = self.catalog.rows(ids)
        vectors = self.embedder.embed([document_text(r) for r in rows])
        return {r["id"]: (v, vector_metadata(r)) for r, v in zip(rows, vectors, strict=False)}

    def _update_lexical(self, gone: set[str], rows: list[dict[str, Any]], full: bool) -> None:
        """Apply a sync's delta to the tokens kept in memory, then swap in a rebuilt BM25 index."""
        if full or not self._lexical_ready:
            self._tokens = {r["id"]: document_tokens(r) or ["<empty>"] for r in self.catalog.rows()}
        else:
            for chunk_id in gone:
                self._tokens.pop(chunk_id, None)
            for row in rows:
                self._tokens[row["id"]] = document_tokens(row) or ["<empty>"]
        self._lexical, self._lexical_ready = LexicalIndex.build(self._tokens), True  # swapped whole

    # -- search ----------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = DEFAULT_K,
        mode: SearchMode = DEFAULT_MODE,
        language: str | None = None,
        path_glob: str | None = None,
        kind: str | None = None,
    ) -> list[SearchHit]:
        query = query.strip()
        if not query:
            raise SearchError("the query is empty: describe the code you are looking for")
        if len(query) > MAX_QUERY_CHARS:
            raise SearchError(f"the query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        if not 1 <= k <= 100:
            raise SearchError(f"k must be between 1 and 100, not {k}")
        if mode not in ("hybrid", "dense", "lexical"):
            raise SearchError(f"mode must be hybrid, dense or lexical, not {quoted(mode)}")
        if kind is not None and kind not in KINDS:
            raise SearchError(f"kind must be one of {sorted(KINDS)}, not {quoted(kind)}")
        if not self._lexical_ready:
            with self._sync_lock:
                if not self._lexical_ready:
                    self._update_lexical(set(), [], full=True)
        if not self._lexical.ids:
            raise SearchError("the index is empty: build it first with the index_repo tool (or `forge-mcp index`)")
        allowed = self._allowed(language, path_glob, kind)
        n = max(self.ws.config.index.candidates, k)
        dense = self._dense(query, n, allowed, language, kind) if mode != "lexical" else []
        lexical = self._lexical.search(query, n, allowed) if mode != "dense" else []
        return self._fuse(dense, lexical, k, mode)

    def _allowed(self, language: str | None, path_glob: str | None, kind: str | None) -> set[str] | None:
        if language is None and path_glob is None and kind is None:
            return None
        rows = self.catalog.rows()
        return {
            r["id"]
            for r in rows
            if (language is None or r["language"] == language)
            and (kind is None or r["kind"] == kind)
            and (path_glob is None or fnmatch.fnmatch(r["path"], path_glob))
        }

    def _dense(
        self, query: str, n: int, allowed: set[str] | None, language: str | None, kind: str | None
    ) -> list[tuple[str, float]]:
        if allowed is not None and not allowed:
            return []
        clauses = [{"language": language}] if language else []
        clauses += [{"kind": kind}] if kind else []
        where = clauses[0] if len(clauses) == 1 else ({"$and": clauses} if clauses else None)
        wanted = n if allowed is None else n * 4  # a path filter is applied after the query
        embedder, vectors = self._serving  # a switch swaps both at once; this query uses one pair
        found = vectors.query(embedder.embed_query(query), wanted, where)
        return [(i, s) for i, s in found if allowed is None or i in allowed][:n]

    def _fuse(
        self, dense: list[tuple[str, float]], lexical: list[tuple[str, float]], k: int, mode: SearchMode
    ) -> list[SearchHit]:
        cfg = self.ws.config.index
        dense_rank = {i: r for r, (i, _) in enumerate(dense, start=1)}
        lexical_rank = {i: r for r, (i, _) in enumerate(lexical, start=1)}
        if mode == "dense":
            scores = dict(dense)
        elif mode == "lexical":
            scores = dict(lexical)
        elif cfg.fusion == "rrf":
            scores = {}
            for ranks in (dense_rank, lexical_rank):
                for i, r in ranks.items():
                    scores[i] = scores.get(i, 0.0) + 1.0 / (cfg.rrf_k + r)
        else:
            scores = _convex(dense, lexical, cfg.dense_weight)
        best = sorted(scores, key=lambda i: -scores[i])[:k]
        return [
            SearchHit(
                path=r["path"],
                start_line=r["start_line"],
                end_line=r["end_line"],
                symbol=r["symbol"],
                kind=r["kind"],
                language=r["language"],
                score=round(scores[r["id"]], 6),
                dense_rank=dense_rank.get(r["id"]),
                lexical_rank=lexical_rank.get(r["id"]),
                text=r["text"],
            )
            for r in self.catalog.rows(best)
        ]


def _convex(dense: list[tuple[str, float]], lexical: list[tuple[str, float]], weight: float) -> dict[str, float]:
    """Weighted sum of scores normalised per query: cosine min-max over the candidates, BM25 by its best.

    On the docstring->function benchmark this beat reciprocal rank fusion on every corpus we tried
    (bench/README.md): ranks throw away how much better the first candidate is than the tenth.
    """
    scores: dict[str, float] = {}
    if dense:
        low, high = min(s for _, s in dense), max(s for _, s in dense)
        for i, s in dense:
            scores[i] = weight * (s - low) / (high - low + 1e-9)
    if lexical:
        top = max(s for _, s in lexical)
        for i, s in lexical:
            scores[i] = scores.get(i, 0.0) + (1 - weight) * s / (top + 1e-9)
    return scores
