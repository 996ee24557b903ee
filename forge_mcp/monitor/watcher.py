"""The working-tree watcher: watchdog events, debounced into batches, recorded in the store.

Events under .git/ and the state folder are dropped at once; the rest wait in a burst until the tree
has been quiet for `debounce_ms` (or `max_batch_ms` has passed), then gitignored paths are removed
with one `git check-ignore` call, the batch is recorded, and `on_batch` is told.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirDeletedEvent,
    DirMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from forge_mcp.core.config import WatchConfig
from forge_mcp.core.workspace import Workspace

log = logging.getLogger(__name__)

Change = tuple[str, str, str | None]  # (kind, path relative to the repo, destination for moves)


@dataclass(frozen=True)
class Batch:
    number: int
    changes: list[Change]


class _Collector(FileSystemEventHandler):
    def __init__(self, on_event: Callable[[str, str, str | None], None]) -> None:
        self._on_event = on_event

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed", "closed_no_write"):
            return
        if event.is_directory and not isinstance(event, (DirMovedEvent, DirDeletedEvent)):
            return  # a directory "modified" event accompanies every file change inside it
        dest = getattr(event, "dest_path", "") or None
        self._on_event(event.event_type, _text(event.src_path), _text(dest) if dest else None)


def _text(path: str | bytes) -> str:
    return path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path


class RepoWatcher:
    """Watches one repository's work tree; `start()`/`stop()` or use as a context manager."""

    def __init__(
        self, ws: Workspace, on_batch: Callable[[Batch], None] | None = None, config: WatchConfig | None = None
    ) -> None:
        self.ws = ws
        self.config = config or ws.config.watch
        self.on_batch = on_batch
        self._root = ws.repo_root
        self._skip = [ws.repo_root / ".git", ws.state_dir]
        self._pending: dict[str, Change] = {}
        self._first_at = 0.0
        self._last_at = 0.0
        self._cond = threading.Condition()
        self._stopping = False
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None
        self.backend = ""

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> RepoWatcher:
        self._observer = self._start_observer()
        self._thread = threading.Thread(target=self._flush_loop, name=f"forge-watch-{self.ws.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._flush()  # nothing seen before stop is lost

    def __enter__(self) -> RepoWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_observer(self) -> BaseObserver:
        handler = _Collector(self._record)
        try:
            observer: BaseObserver = Observer()
            observer.schedule(handler, str(self._root), recursive=True)
            observer.start()
            self.backend = type(observer).__name__
            return observer
        except OSError as exc:  # e.g. inotify watch limit reached on a huge tree
            log.warning("native file watching failed (%s); falling back to polling", exc)
            observer = PollingObserver(timeout=1)
            observer.schedule(handler, str(self._root), recursive=True)
            observer.start()
            self.backend = "PollingObserver"
            return observer

    # -- collecting ----------------------------------------------------------------------------
    def _record(self, kind: str, src: str, dest: str | None) -> None:
        rel = self._relative(src)
        rel_dest = self._relative(dest) if dest else None
        if rel is None and rel_dest is None:
            return
        now = time.monotonic()
        with self._cond:
            if not self._pending:
                self._first_at = now
            self._last_at = now
            self._merge(kind, rel, rel_dest)
            self._cond.notify_all()

    def _merge(self, kind: str, rel: str | None, rel_dest: str | None) -> None:
        """Fold a raw event into the pending burst, keeping one net change per path."""
        key = rel or rel_dest or ""
        previous = self._pending.get(key)
        if kind == "moved" and rel and rel_dest and previous and previous[0] == "created":
            del self._pending[key]  # a new (or temp) file renamed into place: the target is what changed
            self._pending[rel_dest] = ("created", rel_dest, None)
        elif previous and previous[0] == "created" and kind == "modified":
            pass  # a new file being written is still a new file
        elif previous and previous[0] == "created" and kind == "deleted":
            del self._pending[key]  # a temp file that came and went is no change
        else:
            self._pending[key] = (kind, rel or rel_dest or "", rel_dest if rel else None)

    def _relative(self, path: str) -> str | None:
        p = Path(path)
        if any(p == skip or p.is_relative_to(skip) for skip in self._skip):
            return None
        try:
            return p.relative_to(self._root).as_posix()
        except ValueError:
            return None

    def _flush_loop(self) -> None:
        debounce = self.config.debounce_ms / 1000
        max_wait = self.config.max_batch_ms / 1000
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                now = time.monotonic()
                due = min(self._last_at + debounce, self._first_at + max_wait)
                if now < due:
                    self._cond.wait(due - now)
                    continue
            self._flush()

    def _flush(self) -> None:
        with self._cond:
            changes, self._pending = list(self._pending.values()), {}
        changes = self._drop_ignored(changes)
        if not changes:
            return
        try:
            number = self.ws.store.add_events(changes, keep=self.config.keep_events)
        except Exception:  # the watcher thread must survive a transient store failure
            log.exception("recording %d watcher events failed", len(changes))
            return
        if self.on_batch is not None:
            try:
                self.on_batch(Batch(number, changes))
            except Exception:
                log.exception("watcher batch callback failed")

    def _drop_ignored(self, changes: list[Change]) -> list[Change]:
        """Remove gitignored paths; name what really changed for editor-style saves."""
        paths = sorted({c[1] for c in changes} | {c[2] for c in changes if c[2]})
        ignored = git_ignored(self._root, paths)
        kept: list[Change] = []
        for kind, path, dest in changes:
            if kind == "moved" and dest and path in ignored and dest not in ignored:
                kept.append(("created", dest, None))  # a temp file renamed over the target (atomic save)
            elif path not in ignored or (dest and dest not in ignored):
                kept.append((kind, path, dest))
        # "created" over a path git already tracks is a rewrite of that file (delete + recreate, atomic save).
        tracked = git_tracked(self._root, [p for k, p, _ in kept if k == "created"])
        return [("modified", p, d) if k == "created" and p in tracked else (k, p, d) for k, p, d in kept]


def git_ignored(root: Path, paths: list[str]) -> set[str]:
    """The subset of `paths` that .gitignore (and info/exclude, core.excludesFile) ignores."""
    if not paths:
        return set()
    proc = subprocess.run(
        ["git", "check-ignore", "-z", "--stdin"],
        cwd=root,
        input="\x00".join(paths).encode() + b"\x00",
        capture_output=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        log.warning("git check-ignore failed: %s", proc.stderr.decode(errors="replace").strip())
        return set()
    return {p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\x00") if p}


def git_tracked(root: Path, paths: list[str]) -> set[str]:
    """The subset of `paths` that are in git's index."""
    if not paths:
        return set()
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--", *paths],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return {p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\x00") if p}
