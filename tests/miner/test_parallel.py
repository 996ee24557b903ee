"""Chunking in worker processes gives exactly what chunking in-process gives."""

from __future__ import annotations

import subprocess
import sys

import pytest

from forge_mcp.core.workspace import Workspace
from forge_mcp.miner import parallel
from forge_mcp.miner.blob import file_payload
from forge_mcp.miner.mine import mine
from forge_mcp.miner.parallel import (
    batches,
    chunk_batch,
    chunk_in_processes,
    plan_workers,
)
from tests.conftest import PLANTED


def test_plan_workers_stays_serial_for_small_jobs() -> None:
    big = parallel.MIN_PARALLEL_BYTES
    assert plan_workers(1, 10 * big, 1000) == 1  # asked for none
    assert plan_workers(4, big - 1, 1000) == 1  # too little to pay for start-up
    assert plan_workers(4, big, 15) == 1  # too few files to share
    assert plan_workers(4, big, 1000) == 4
    assert 1 <= plan_workers(0, big, 1000) <= parallel.MAX_AUTO_WORKERS


def test_batches_split_by_size_and_keep_every_item() -> None:
    items = [(f"f{i}.py", b"x" * 400) for i in range(10)]
    got = list(batches(items, limit=1000))
    assert [len(b) for b in got] == [3, 3, 3, 1]
    assert [item for b in got for item in b] == items


def test_workers_give_the_same_entries_as_in_process(code_repo, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [
        (p, (code_repo.path / p).read_bytes())
        for p in ("app/core.py", "app/util.py", "web/app.js", "server/main.go", "docs/guide.md", "config/settings.py")
    ]
    monkeypatch.setattr(parallel, "BATCH_BYTES", 1)  # a batch per file, shared by the two workers
    seen: list[int] = []
    got = dict(chunk_in_processes(items, 2000, workers=2, on_done=lambda n, path: seen.append(n)))
    assert seen == [1] * len(items)
    assert got == dict(chunk_batch(items, 2000))
    assert b"Engine.start" in got["app/core.py"]
    settings = got["config/settings.py"].decode()
    assert all(secret not in settings for secret in PLANTED)
    assert file_payload("config/settings.py", items[-1][1], 2000)[0]["redactions"]


def test_mine_in_worker_processes_matches_a_serial_mine(code_repo, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = mine(
        Workspace.open(code_repo.path, {"state_dir": str(code_repo.path.parent / "s1"), "miner": {"processes": 1}})
    )
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 1)  # the fixture repo is small: make it go parallel
    ws = Workspace.open(code_repo.path, {"state_dir": str(code_repo.path.parent / "s2"), "miner": {"processes": 2}})
    progress: list[int] = []
    result = mine(ws, progress=lambda done, total, msg: progress.append(done))
    assert [c.to_row() for c in result.chunks] == [c.to_row() for c in serial.chunks]
    assert result.stats == serial.stats
    assert progress[-1] == result.stats.files_seen
    again = mine(ws)  # the cache the workers filled serves the next run
    assert again.stats.files_parsed == 0
    assert [c.to_row() for c in again.chunks] == [c.to_row() for c in serial.chunks]


def test_a_worker_cannot_write_to_the_protocol_channel() -> None:
    code = "from forge_mcp.miner.parallel import _stdout_to_stderr\n_stdout_to_stderr()\nprint('noise')\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout == "" and "noise" in proc.stderr
