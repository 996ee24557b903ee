import sqlite3
from pathlib import Path

import pytest

from forge_mcp.core.errors import NotFoundError, StoreError
from forge_mcp.core.store import MIGRATIONS, Store


def test_migrates_once_and_uses_wal(tmp_path: Path) -> None:
    store = Store(tmp_path / "forge.db")
    assert store.schema_version() == len(MIGRATIONS)
    Store(tmp_path / "forge.db")  # reopening does not re-run migrations
    with sqlite3.connect(tmp_path / "forge.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "events", "runs", "datasets", "reports", "deployments"} <= tables


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "forge.db"
    Store(db)
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="upgrade forge-mcp"):
        Store(db)


def test_meta_roundtrip(tmp_path: Path) -> None:
    store = Store(tmp_path / "forge.db")
    assert store.get_meta("k") is None
    store.set_meta("k", "v1")
    store.set_meta("k", "v2")
    assert store.get_meta("k") == "v2"


def test_events_batches_newest_first_and_pruning(tmp_path: Path) -> None:
    store = Store(tmp_path / "forge.db")
    b1 = store.add_events([("created", "a.py", None), ("modified", "b.py", None)])
    b2 = store.add_events([("moved", "a.py", "c.py")])
    assert (b1, b2) == (1, 2)
    events = store.recent_events(10)
    assert [(e.kind, e.path, e.dest_path, e.batch) for e in events] == [
        ("moved", "a.py", "c.py", 2),
        ("modified", "b.py", None, 1),
        ("created", "a.py", None, 1),
    ]
    assert store.count_events() == 3
    store.add_events([("modified", f"f{i}.py", None) for i in range(200)], keep=100)
    assert store.count_events() == 100


def test_records_upsert_and_not_found(tmp_path: Path) -> None:
    store = Store(tmp_path / "forge.db")
    store.put_record("runs", "run-1", "queued", {"method": "lora"}, git_commit="abc")
    store.put_record("runs", "run-1", "running", {"method": "lora", "step": 3}, git_commit="abc")
    run = store.get_record("runs", "run-1")
    assert run["status"] == "running" and run["data"] == {"method": "lora", "step": 3}
    assert [r["id"] for r in store.list_records("runs")] == ["run-1"]
    with pytest.raises(NotFoundError, match="no run with id 'nope'"):
        store.get_record("runs", "nope")
    with pytest.raises(ValueError):
        store.get_record("runs; DROP TABLE runs", "x")


def test_deployment_log_is_append_only_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "forge.db")
    first = store.append_deployment("deploy", {"model": "forge/p:abc"}, run_id="r1", git_commit="abc")
    second = store.append_deployment("rollback", {"model": "forge/p:abc"})
    assert second > first
    assert [d["action"] for d in store.deployments()] == ["rollback", "deploy"]


def test_a_killed_writer_leaves_a_consistent_store(tmp_path: Path) -> None:
    """A transaction interrupted by an exception (or a dying process) commits nothing."""
    store = Store(tmp_path / "forge.db")
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            conn.execute("INSERT INTO meta(key, value, updated_at) VALUES ('x', 'y', 0)")
            raise RuntimeError("killed")
    assert store.get_meta("x") is None


def test_a_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "forge.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        Store(db)


def test_kill_9_mid_writes_leaves_whole_batches(tmp_path: Path) -> None:
    """A writer killed with SIGKILL leaves an intact database holding only whole batches."""
    import os
    import signal
    import subprocess
    import sys

    db = tmp_path / "forge.db"
    Store(db)
    code = (
        "import sys; from pathlib import Path; from forge_mcp.core.store import Store\n"
        "s = Store(Path(sys.argv[1]))\n"
        "print('ready', flush=True)\n"
        "while True: s.add_events([('modified', f'f{i}.py', None) for i in range(50)])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    store = Store(db)
    deadline = __import__("time").monotonic() + 20
    while store.count_events() < 500 and __import__("time").monotonic() < deadline:
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        sizes = {n for (n,) in conn.execute("SELECT COUNT(*) FROM events GROUP BY batch")}
    assert sizes == {50}
    assert store.count_events() >= 500


def test_chunk_cache_marks_stale_reuse_and_prunes_unused(tmp_path: Path) -> None:
    store = Store(tmp_path / "forge.db")
    store.update_chunk_cache("fp", [("a.py", "b1", "{}"), ("b.py", "b2", "{}"), ("c.py", "b3", "{}")], [])

    def used_at() -> dict[str, float]:
        with sqlite3.connect(tmp_path / "forge.db") as conn:
            return dict(conn.execute("SELECT path, used_at FROM chunk_cache"))

    fresh = used_at()
    store.update_chunk_cache("fp", [], [("a.py", "b1")])
    assert used_at() == fresh  # marked less than a day ago: not rewritten
    with sqlite3.connect(tmp_path / "forge.db") as conn:
        conn.execute("UPDATE chunk_cache SET used_at = used_at - 2 * 86400")
        conn.execute("UPDATE chunk_cache SET used_at = used_at - 60 * 86400 WHERE path = 'c.py'")
    store.update_chunk_cache("fp", [], [("a.py", "b1")])
    after = used_at()
    assert after["a.py"] >= fresh["a.py"] and after["b.py"] < fresh["b.py"] and "c.py" not in after
    store.update_chunk_cache("fp2", [("a.py", "b1", "{}")], [])
    assert set(used_at()) == {"a.py"}  # another chunker fingerprint replaces the cache
