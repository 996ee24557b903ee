import os
import threading
from pathlib import Path

from forge_mcp.core.workspace import Workspace
from forge_mcp.monitor.watcher import Batch, RepoWatcher, git_ignored
from tests.conftest import wait_until


class Batches:
    """A hand-written sink for watcher batches (thread-safe)."""

    def __init__(self) -> None:
        self.items: list[Batch] = []
        self._lock = threading.Lock()

    def __call__(self, batch: Batch) -> None:
        with self._lock:
            self.items.append(batch)

    def paths(self) -> list[str]:
        with self._lock:
            return [c[1] for b in self.items for c in b.changes]


def _watch(path: Path, **watch_cfg: object) -> tuple[Workspace, RepoWatcher, Batches]:
    ws = Workspace.open(path, {"watch": watch_cfg} if watch_cfg else None)
    sink = Batches()
    return ws, RepoWatcher(ws, on_batch=sink), sink


def test_a_real_write_is_recorded_and_announced(repo) -> None:
    ws, watcher, sink = _watch(repo.path)
    with watcher:
        repo.write("src/app.py", "def main():\n    return 42\n")
        assert wait_until(lambda: "src/app.py" in sink.paths())
    events = ws.store.recent_events(10)
    assert [(e.kind, e.path) for e in events] == [("modified", "src/app.py")]


def test_git_internals_state_folder_and_gitignored_paths_are_ignored(repo) -> None:
    repo.commit("ignore", {".gitignore": "build/\n*.log\n"})
    ws, watcher, sink = _watch(repo.path)
    with watcher:
        repo.write("build/out.o", "bin")
        repo.write("debug.log", "log")
        (ws.state_dir / "scratch.txt").write_text("state")
        repo.git("commit", "-q", "--allow-empty", "-m", "touches .git")
        repo.write("src/kept.py", "x = 1\n")  # the marker that the batch was processed
        assert wait_until(lambda: "src/kept.py" in sink.paths())
    assert sink.paths() == ["src/kept.py"]


def test_a_burst_is_debounced_into_one_batch(repo) -> None:
    ws, watcher, sink = _watch(repo.path, debounce_ms=300, max_batch_ms=5000)
    with watcher:
        for i in range(20):
            repo.write(f"gen/f{i}.py", f"X = {i}\n")
        assert wait_until(lambda: len(sink.paths()) >= 20)
    assert len(sink.items) == 1
    assert {c[0] for c in sink.items[0].changes} == {"created"}  # created + modified stays created


def test_max_batch_bounds_the_delay_of_a_long_burst(repo) -> None:
    ws, watcher, sink = _watch(repo.path, debounce_ms=10_000, max_batch_ms=200)
    with watcher:
        repo.write("a.py", "1\n")
        assert wait_until(lambda: "a.py" in sink.paths(), timeout=3)


def test_moves_deletes_and_transient_files(repo) -> None:
    ws, watcher, sink = _watch(repo.path)
    with watcher:
        os.rename(repo.path / "src/util.py", repo.path / "src/tools.py")
        os.remove(repo.path / "README.md")
        tmp = repo.write("editor.swp", "x")
        tmp.unlink()
        repo.write("done.py", "")
        assert wait_until(lambda: "done.py" in sink.paths())
    changes = {(c[0], c[1], c[2]) for b in sink.items for c in b.changes}
    assert ("moved", "src/util.py", "src/tools.py") in changes
    assert ("deleted", "README.md", None) in changes
    assert not any(c[1] == "editor.swp" for c in changes)


def test_stop_is_clean_and_records_what_was_pending(repo) -> None:
    ws, watcher, sink = _watch(repo.path, debounce_ms=60_000, max_batch_ms=60_000)
    watcher.start()
    repo.write("late.py", "x\n")
    assert wait_until(lambda: watcher._pending != {})
    watcher.stop()
    assert sink.paths() == ["late.py"]
    assert not any(t.name.startswith("forge-watch") for t in threading.enumerate())


def test_git_ignored_batches_one_call(repo) -> None:
    repo.commit("ignore", {".gitignore": "*.tmp\nvendor/\n"})
    assert git_ignored(repo.path, ["a.tmp", "src/app.py", "vendor/x.js"]) == {"a.tmp", "vendor/x.js"}
    assert git_ignored(repo.path, []) == set()


def test_editor_style_saves_name_the_real_file(repo) -> None:
    repo.commit("ignore swaps", {".gitignore": "*.swp\n"})
    ws, watcher, sink = _watch(repo.path)
    with watcher:
        # atomic save: write a temp file, rename it over the tracked target
        tmp = repo.write("src/.app.py.swp", "def main():\n    return 9\n")
        os.replace(tmp, repo.path / "src/app.py")
        assert wait_until(lambda: "src/app.py" in sink.paths())
        # a tracked file deleted and written again is a modification
        os.remove(repo.path / "src/util.py")
        repo.write("src/util.py", "def helper(x):\n    return x\n")
        # a new file renamed before the burst closes is a new file under its final name
        repo.write("draft.py", "x = 1\n")
        os.rename(repo.path / "draft.py", repo.path / "final.py")
        assert wait_until(lambda: "final.py" in sink.paths() and "src/util.py" in sink.paths())
    changes = [c for b in sink.items for c in b.changes]
    assert ("modified", "src/app.py", None) in changes
    assert ("modified", "src/util.py", None) in changes
    assert ("created", "final.py", None) in changes
    assert not any(".swp" in c[1] or c[1] == "draft.py" for c in changes)
