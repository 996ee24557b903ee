"""The forge's SQLite store: runs, datasets, reports, deployments, watcher events and key/value meta.

WAL mode lets the server, the watcher thread and worker processes read while one writes. The schema
evolves through numbered migrations tracked in `PRAGMA user_version`; each runs in one transaction.
Connections are short-lived and per call, so the store is safe to use from any thread or process.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_mcp.core.errors import NotFoundError, StoreError, quoted

MIGRATIONS: list[str] = [
    # 1: the foundation's tables. JSON columns hold stage-specific detail so stages can grow
    # without a migration for every new field; columns that are queried are real columns.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        batch INTEGER NOT NULL,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        dest_path TEXT
    );
    CREATE INDEX events_ts ON events(ts);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        status TEXT NOT NULL, git_commit TEXT, dataset_id TEXT, data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        status TEXT NOT NULL, git_commit TEXT, data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE reports (
        id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        status TEXT NOT NULL, run_id TEXT, data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE deployments (
        id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL,
        action TEXT NOT NULL, run_id TEXT, git_commit TEXT, data TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: the Miner's chunk cache, keyed by file path and git blob id (the content hash git already has)
    # under a fingerprint of the chunker settings; `payload` is the chunks (or the skip reason) as JSON.
    """
    CREATE TABLE chunk_cache (
        fingerprint TEXT NOT NULL, path TEXT NOT NULL, blob TEXT NOT NULL,
        payload TEXT NOT NULL, used_at REAL NOT NULL,
        PRIMARY KEY (fingerprint, path, blob)
    );
    """,
    # 3: the RAG index catalog: what each working-tree file looked like when indexed, and its chunks.
    # The vectors live in Chroma under the same chunk ids; a full sync repairs any drift between them.
    """
    CREATE TABLE index_files (
        path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        skipped TEXT, indexed_at REAL NOT NULL
    );
    CREATE TABLE index_chunks (
        id TEXT PRIMARY KEY, path TEXT NOT NULL, language TEXT NOT NULL, symbol TEXT NOT NULL,
        kind TEXT NOT NULL, start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
        header TEXT NOT NULL, text TEXT NOT NULL
    );
    CREATE INDEX index_chunks_path ON index_chunks(path);
    """,
    # 4: training metrics, one row per train or validation report of a run.
    """
    CREATE TABLE metrics (
        run_id TEXT NOT NULL, step INTEGER NOT NULL, kind TEXT NOT NULL, loss REAL NOT NULL,
        learning_rate REAL, tokens_per_second REAL, iterations_per_second REAL, trained_tokens INTEGER,
        peak_memory_gb REAL, t REAL NOT NULL
    );
    CREATE INDEX metrics_run ON metrics(run_id, step);
    """,
    # 5: cycles of the whole loop (monitor -> chunk -> index -> train -> validate -> deploy), stage by stage.
    """
    CREATE TABLE cycles (
        id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        status TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}'
    );
    """,
]

RECORD_TABLES = ("runs", "datasets", "reports", "cycles")


@dataclass(frozen=True)
class Event:
    id: int
    ts: float
    batch: int
    kind: str
    path: str
    dest_path: str | None


@dataclass(frozen=True)
class Activity:
    """What the server's run monitor compares between two looks: the newest runs (id, status, metric rows), the
    newest cycles (id, last update), how many reports there are, and the last deployment's id."""

    runs: list[tuple[str, str, int]]
    cycles: list[tuple[str, float]]
    reports: int
    last_deployment: int


class Store:
    """Open (and migrate) the store at `path`; every method opens its own short connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the forge store {self.path}: {exc}") from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the forge store {self.path} failed: {exc}") from exc
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this forge-mcp "
                    f"({len(MIGRATIONS)}): upgrade forge-mcp"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    def schema_version(self) -> int:
        with self.connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta(key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, value, time.time()),
            )

    # -- watcher events ---------------------------------------------------------------------
    def add_events(self, events: Sequence[tuple[str, str, str | None]], keep: int | None = None) -> int:
        """Record one debounced batch of (kind, path, dest_path); returns the batch number."""
        now = time.time()
        with self.transaction() as conn:
            batch = int(conn.execute("SELECT COALESCE(MAX(batch), 0) + 1 FROM events").fetchone()[0])
            conn.executemany(
                "INSERT INTO events(ts, batch, kind, path, dest_path) VALUES (?, ?, ?, ?, ?)",
                [(now, batch, kind, path, dest) for kind, path, dest in events],
            )
            if keep is not None:
                conn.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", (keep,))
        return batch

    def recent_events(self, limit: int = 50, since_ts: float | None = None) -> list[Event]:
        """Newest first."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM events WHERE ts >= ? ORDER BY id DESC LIMIT ?",
                (since_ts or 0.0, limit),
            ).fetchall()
        return [Event(r["id"], r["ts"], r["batch"], r["kind"], r["path"], r["dest_path"]) for r in rows]

    def count_events(self, since_ts: float | None = None) -> int:
        with self.connect() as conn:
            row = conn.execute("SELECT COUNT(*) FROM events WHERE ts >= ?", (since_ts or 0.0,)).fetchone()
        return int(row[0])

    # -- records: runs, datasets, reports ----------------------------------------------------
    def put_record(self, table: str, record_id: str, status: str, data: dict[str, Any], **columns: Any) -> None:
        """Insert or update a record; `columns` are the table's queried columns (git_commit, run_id, ...)."""
        _check_table(table)
        now = time.time()
        names = ["id", "created_at", "updated_at", "status", "data", *columns]
        values = [record_id, now, now, status, json.dumps(data, default=str), *columns.values()]
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in ("id", "created_at"))
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO {table}({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT(id) DO UPDATE SET {updates}",
                values,
            )

    def get_record(self, table: str, record_id: str) -> dict[str, Any]:
        _check_table(table)
        with self.connect() as conn:
            row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no {table[:-1]} with id {quoted(record_id)}")
        return _row_to_dict(row)

    def list_records(self, table: str, limit: int = 100) -> list[dict[str, Any]]:
        _check_table(table)
        with self.connect() as conn:
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [_row_to_dict(r) for r in rows]

    # -- chunk cache ------------------------------------------------------------------------
    def cached_chunks(self, fingerprint: str) -> dict[tuple[str, str], str]:
        """(path, blob) -> payload JSON for every cached file under this chunker fingerprint."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT path, blob, payload FROM chunk_cache WHERE fingerprint = ?", (fingerprint,)
            ).fetchall()
        return {(r["path"], r["blob"]): r["payload"] for r in rows}

    def update_chunk_cache(
        self,
        fingerprint: str,
        fresh: Sequence[tuple[str, str, str]],
        used: Sequence[tuple[str, str]],
        max_age_s: float = 30 * 86400,
    ) -> None:
        """Store new (path, blob, payload) rows, mark reused ones, prune rows unused for `max_age_s`."""
        now = time.time()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO chunk_cache(fingerprint, path, blob, payload, used_at) VALUES (?, ?, ?, ?, ?)",
                [(fingerprint, path, blob, payload, now) for path, blob, payload in fresh],
            )
            # Only rows last marked over a day ago: rewriting every row (payload and all) on each run
            # would cost more than the pruning it serves.
            conn.executemany(
                "UPDATE chunk_cache SET used_at = ? WHERE fingerprint = ? AND path = ? AND blob = ? AND used_at < ?",
                [(now, fingerprint, path, blob, now - 86400) for path, blob in used],
            )
            conn.execute(
                "DELETE FROM chunk_cache WHERE used_at < ? OR fingerprint != ?", (now - max_age_s, fingerprint)
            )

    def has_index(self) -> bool:
        with self.connect() as conn:
            return conn.execute("SELECT 1 FROM index_files LIMIT 1").fetchone() is not None

    # -- training metrics -------------------------------------------------------------------
    def add_metric(self, run_id: str, step: int, kind: str, loss: float, **extra: float | int | None) -> None:
        columns = ("learning_rate", "tokens_per_second", "iterations_per_second", "trained_tokens", "peak_memory_gb")
        with self.transaction() as conn:
            # A resumed run reports steps again from its checkpoint: the newer report replaces the older.
            conn.execute("DELETE FROM metrics WHERE run_id = ? AND kind = ? AND step >= ?", (run_id, kind, step))
            conn.execute(
                f"INSERT INTO metrics(run_id, step, kind, loss, {', '.join(columns)}, t) VALUES (?, ?, ?, ?, ?, ?, ?, "
                f"?, ?, ?)",
                (run_id, step, kind, loss, *(extra.get(c) for c in columns), time.time()),
            )

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM metrics WHERE run_id = ? ORDER BY step, kind", (run_id,)).fetchall()
        return [dict(r) for r in rows]

    # -- deployments: an append-only log ----------------------------------------------------
    def append_deployment(
        self, action: str, data: dict[str, Any], run_id: str | None = None, git_commit: str | None = None
    ) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO deployments(created_at, action, run_id, git_commit, data) VALUES (?, ?, ?, ?, ?)",
                (time.time(), action, run_id, git_commit, json.dumps(data, default=str)),
            )
            return int(cur.lastrowid or 0)

    def deployments(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM deployments ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_row_to_dict(r) for r in rows]

    def activity(self, limit: int = 20) -> Activity:
        """One cheap look at what changes while runs, cycles, validations and deployments go (polled each second)."""
        with self.connect() as conn:
            runs = conn.execute(
                "SELECT r.id, r.status, (SELECT COUNT(*) FROM metrics m WHERE m.run_id = r.id) AS n "
                "FROM runs r ORDER BY r.created_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
            cycles = conn.execute(
                "SELECT id, updated_at FROM cycles ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
            reports = conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
            deployment = conn.execute("SELECT COALESCE(MAX(id), 0) FROM deployments").fetchone()[0]
        return Activity(
            runs=[(str(r["id"]), str(r["status"]), int(r["n"])) for r in runs],
            cycles=[(str(c["id"]), float(c["updated_at"])) for c in cycles],
            reports=int(reports),
            last_deployment=int(deployment),
        )


def _check_table(table: str) -> None:
    # Table names cannot be bound as parameters; allow only the known ones.
    if table not in RECORD_TABLES:
        raise ValueError(f"unknown record table {table!r}")


def _row_to_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    if "data" in out:
        out["data"] = json.loads(out["data"])
    return out
