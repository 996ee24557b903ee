"""index.syncer: watcher batches are synced on one thread, coalesced per repository, failures survived."""

from __future__ import annotations

import threading

from forge_mcp.index.syncer import IndexSyncer


class Recorder:
    """A sync callable that records its calls; it can hold the first call until released, or fail a repository."""

    def __init__(self, hold: bool = False, fail: str | None = None, result: object = True) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.fail, self.result = fail, result

    def __call__(self, repo: str, paths: list[str]) -> object:
        self.started.set()
        assert self.release.wait(10)
        self.calls.append((repo, paths))
        if repo == self.fail:
            raise RuntimeError("index is gone")
        return self.result


def test_batches_waiting_behind_a_sync_are_coalesced_per_repository() -> None:
    synced: list[str] = []
    sync = Recorder(hold=True)
    syncer = IndexSyncer(sync, on_synced=synced.append)
    try:
        syncer.submit("a", ["x.py"])
        assert sync.started.wait(5)  # the first batch is being synced; the rest queue up behind it
        syncer.submit("a", ["z.py", "y.py"])
        syncer.submit("b", ["m.py"])
        syncer.submit("a", ["y.py", "w.py"])
        assert not syncer.idle.is_set()
        sync.release.set()
        assert syncer.idle.wait(5)
    finally:
        syncer.stop()
    assert sync.calls == [("a", ["x.py"]), ("a", ["w.py", "y.py", "z.py"]), ("b", ["m.py"])]
    assert synced == ["a", "a", "b"]


def test_a_failed_sync_does_not_stop_the_others_or_the_thread() -> None:
    synced: list[str] = []
    sync = Recorder(hold=True, fail="broken")
    syncer = IndexSyncer(sync, on_synced=synced.append)
    try:
        syncer.submit("first", ["a.py"])
        assert sync.started.wait(5)
        syncer.submit("broken", ["a.py"])
        syncer.submit("fine", ["b.py"])
        sync.release.set()
        assert syncer.idle.wait(5)
        syncer.submit("broken", ["c.py"])
        syncer.submit("fine", ["d.py"])
        assert syncer.idle.wait(5)
    finally:
        syncer.stop()
    assert synced.count("fine") == 2 and "broken" not in synced
    assert ("fine", ["d.py"]) in sync.calls


def test_on_synced_only_when_the_sync_did_something() -> None:
    synced: list[str] = []
    syncer = IndexSyncer(Recorder(result=False), on_synced=synced.append)
    try:
        syncer.submit("a", ["x.py"])
        assert syncer.idle.wait(5)
    finally:
        syncer.stop()
    assert synced == []


def test_without_a_callback_and_stop_ends_the_thread() -> None:
    def sync_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "forge-index-sync"}

    before = sync_threads()
    sync = Recorder()
    syncer = IndexSyncer(sync)
    assert len(sync_threads() - before) == 1
    assert syncer.idle.is_set()  # nothing submitted yet
    syncer.submit("a", ["x.py"])
    assert syncer.idle.wait(5)
    syncer.stop()
    assert sync_threads() <= before
    assert sync.calls == [("a", ["x.py"])]
