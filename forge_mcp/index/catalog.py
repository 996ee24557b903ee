"""The index catalog in SQLite: indexed files (content hash, size, mtime) and their chunks' text."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from forge_mcp.core.store import Store
from forge_mcp.miner.chunker import Chunk

CHUNK_COLUMNS = ("id", "path", "language", "symbol", "kind", "start_line", "end_line", "header", "text")


@dataclass(frozen=True)
class FileState:
    path: str
    sha256: str
    size: int
    mtime_ns: int
    skipped: str | None


class Catalog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def files(self) -> dict[str, FileState]:
        with self.store.connect() as conn:
            rows = conn.execute("SELECT path, sha256, size, mtime_ns, skipped FROM index_files").fetchall()
        return {r["path"]: FileState(r["path"], r["sha256"], r["size"], r["mtime_ns"], r["skipped"]) for r in rows}

    def chunk_ids(self, paths: Iterable[str] | None = None) -> dict[str, str]:
        """id -> path, for the given paths (all when None)."""
        with self.store.connect() as conn:
            if paths is None:
                rows = conn.execute("SELECT id, path FROM index_chunks").fetchall()
            else:
                wanted = list(paths)
                rows = []
                for i in range(0, len(wanted), 500):
                    part = wanted[i : i + 500]
                    rows += conn.execute(
                        f"SELECT id, path FROM index_chunks WHERE path IN ({','.join('?' * len(part))})", part
                    ).fetchall()
        return {r["id"]: r["path"] for r in rows}

    def rows(self, ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Chunk rows (all, or these ids in this order)."""
        with self.store.connect() as conn:
            if ids is None:
                return [
                    dict(r)
                    for r in conn.execute(
                        f"SELECT {','.join(CHUNK_COLUMNS)} FROM index_chunks ORDER BY path, start_line"
                    )
                ]
            found: dict[str, dict[str, Any]] = {}
            for i in range(0, len(ids), 500):
                part = list(ids[i : i + 500])
                for r in conn.execute(
                    f"SELECT {','.join(CHUNK_COLUMNS)} FROM index_chunks WHERE id IN ({','.join('?' * len(part))})",
                    part,
                ):
                    found[r["id"]] = dict(r)
        return [found[i] for i in ids if i in found]

    def replace(self, paths: Sequence[str], files: Sequence[FileState], chunks: Sequence[dict[str, Any]]) -> None:
        """In one transaction: forget `paths`, then record their new state and chunks."""
        now = time.time()
        with self.store.transaction() as conn:
            for i in range(0, len(paths), 500):
                part = list(paths[i : i + 500])
                marks = ",".join("?" * len(part))
                conn.execute(f"DELETE FROM index_chunks WHERE path IN ({marks})", part)
                conn.execute(f"DELETE FROM index_files WHERE path IN ({marks})", part)
            conn.executemany(
                "INSERT INTO index_files VALUES (?, ?, ?, ?, ?, ?)",
                [(f.path, f.sha256, f.size, f.mtime_ns, f.skipped, now) for f in files],
            )
            conn.executemany(
                f"INSERT OR REPLACE INTO index_chunks({','.join(CHUNK_COLUMNS)}) "
                f"VALUES ({','.join('?' * len(CHUNK_COLUMNS))})",
                [tuple(c[k] for k in CHUNK_COLUMNS) for c in chunks],
            )

    def touch(self, files: Sequence[FileState]) -> None:
        """A file whose mtime moved but whose content did not: remember the new mtime only."""
        with self.store.transaction() as conn:
            conn.executemany(
                "UPDATE index_files SET mtime_ns = ?, size = ? WHERE path = ?",
                [(f.mtime_ns, f.size, f.path) for f in files],
            )

    def clear(self) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM index_chunks")
            conn.execute("DELETE FROM index_files")


def chunk_row(chunk: Chunk) -> dict[str, Any]:
    """The catalog row of a chunk."""
    return {
        "id": chunk.id,
        "path": chunk.path,
        "language": chunk.language,
        "symbol": chunk.symbol,
        "kind": chunk.kind,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "header": chunk.header,
        "text": chunk.text,
    }


def vector_metadata(row: dict[str, Any]) -> dict[str, Any]:
    """What the chunk's vector carries beside it (the filters of a search)."""
    return {"path": row["path"], "language": row["language"], "kind": row["kind"], "symbol": row["symbol"]}
