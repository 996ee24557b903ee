"""Keeps indexes fresh from watcher batches: one background thread, batches coalesced per repository.

Only repositories whose index exists (built once by `index_repo` / `forge-mcp index`) are synced, so the
watcher never triggers an expensive first build by itself.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class IndexSyncer:
    def __init__(
        self, sync: Callable[[str, list[str]], object], on_synced: Callable[[str], None] | None = None
    ) -> None:
        self._sync = sync
        self._on_synced = on_synced
        self._queue: queue.Queue[tuple[str, list[str]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="forge-index-sync", daemon=True)
        self._thread.start()
        self.idle = threading.Event()
        self.idle.set()

    def submit(self, repo: str, paths: list[str]) -> None:
        self.idle.clear()
        self._queue.put((repo, paths))

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batches: dict[str, set[str]] = {item[0]: set(item[1])}
            while True:  # coalesce whatever else is already waiting
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batches.setdefault(more[0], set()).update(more[1])
            for repo, paths in batches.items():
                try:
                    if self._sync(repo, sorted(paths)) and self._on_synced is not None:
                        self._on_synced(repo)
                except Exception:  # a failed sync must not kill the thread; the next full sync repairs
                    log.exception("index sync of %s failed", repo)
            if self._queue.empty():
                self.idle.set()
