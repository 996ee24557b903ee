"""The forge as a service: the roots it may touch, a workspace per repository, and their watchers.

The MCP server's lifespan owns one `Forge`; the CLI builds one too, so both go through the same
confinement and the same workspaces.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_mcp.core import uris
from forge_mcp.core.errors import ForgeError, NotFoundError, quoted
from forge_mcp.core.repo import Roots, repo_toplevel
from forge_mcp.core.store import Activity
from forge_mcp.core.workspace import Workspace
from forge_mcp.cycle.auto import AutoCycler
from forge_mcp.index.rag import RagIndex
from forge_mcp.index.syncer import IndexSyncer
from forge_mcp.monitor.watcher import Batch, RepoWatcher
from forge_mcp.train.params import ACTIVE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepoEntry:
    """A root the forge was started with, under a short unique name used in resource URIs."""

    name: str
    path: Path
    is_git: bool
    problem: str | None = None


class Forge:
    def __init__(self, roots: Sequence[Path | str], overrides: Mapping[str, Any] | None = None) -> None:
        self.roots = Roots(roots)
        self.overrides = dict(overrides or {})
        self._workspaces: dict[Path, Workspace] = {}
        self._lock = threading.Lock()
        self._watchers: dict[str, RepoWatcher] = {}
        self._indexes: dict[Path, RagIndex] = {}
        self.repos = self._name_roots()

    def _name_roots(self) -> dict[str, RepoEntry]:
        entries: dict[str, RepoEntry] = {}
        for root in self.roots.paths:
            base = re.sub(r"[^A-Za-z0-9._-]+", "-", root.name).strip("-.") or "repo"
            name, n = base, 2
            while name in entries:
                name, n = f"{base}-{n}", n + 1
            try:
                is_git, problem = repo_toplevel(root) == root, None
                if not is_git:
                    problem = "inside a larger git repository; pass its top folder"
            except ForgeError as exc:
                is_git, problem = False, str(exc)
            entries[name] = RepoEntry(name, root, is_git, problem)
        return entries

    def workspace(self, path: str | None = None) -> Workspace:
        """The workspace of the repository containing `path` (confined to the roots)."""
        top = repo_toplevel(self.roots.resolve(path), self.roots)
        with self._lock:
            ws = self._workspaces.get(top)
            if ws is None:
                ws = self._workspaces[top] = Workspace.open(top, self.overrides)
                ws.trusted_roots = self.roots.paths
            return ws

    def workspace_named(self, name: str) -> Workspace:
        entry = self.repos.get(name)
        if entry is None:
            raise NotFoundError(f"no repository named {quoted(name)}; known: {', '.join(self.repos)}")
        return self.workspace(str(entry.path))

    # -- RAG indexes ----------------------------------------------------------------------------
    def rag(self, ws: Workspace, rebuild: bool = False) -> RagIndex:
        """The workspace's index, opened once (importing chromadb and the embedder lazily)."""
        with self._lock:
            index = self._indexes.get(ws.repo_root)
            if index is None or rebuild:
                index = self._indexes[ws.repo_root] = RagIndex(ws, rebuild=rebuild)
            return index

    def sync_index(self, name: str, paths: list[str]) -> bool:
        """Re-index changed paths of a repository whose index exists; False when there is none to keep fresh."""
        ws = self.workspace_named(name)
        if not ws.config.index.auto_sync or not ws.store.has_index():
            return False
        self.rag(ws).sync(paths)
        return True

    # -- training runs --------------------------------------------------------------------------
    def workspace_of_run(self, run_id: str) -> Workspace:
        """The workspace whose store holds `run_id` (run ids are unique across repositories)."""
        return self.workspace_of("runs", run_id)

    def workspace_of(self, table: str, record_id: str) -> Workspace:
        """The workspace whose store holds the record (`runs` or `reports`; ids are unique across repositories)."""
        for entry in self.repos.values():
            if not entry.is_git:
                continue
            ws = self.workspace(str(entry.path))
            try:
                ws.store.get_record(table, record_id)
                return ws
            except NotFoundError:
                continue
        raise NotFoundError(f"no {table[:-1]} {quoted(record_id)}; the {uris.listing(table)} resource lists them")

    def open_workspaces(self) -> list[Workspace]:
        with self._lock:
            return list(self._workspaces.values())

    # -- watchers ----------------------------------------------------------------------------
    def start_watchers(self, on_batch: Callable[[str, Batch], None] | None = None) -> list[str]:
        """Start a watcher for every git root whose config enables it; returns the names watched."""
        for name, entry in self.repos.items():
            if not entry.is_git or name in self._watchers:
                continue
            try:
                ws = self.workspace(str(entry.path))
            except ForgeError as exc:
                log.warning("not watching %s: %s", entry.path, exc)
                continue
            if not ws.config.watch.enabled:
                continue
            callback = None if on_batch is None else (lambda batch, n=name: on_batch(n, batch))
            self._watchers[name] = RepoWatcher(ws, on_batch=callback).start()
            log.info("watching %s (%s)", entry.path, self._watchers[name].backend)
        return list(self._watchers)

    def watching(self, name: str) -> bool:
        return name in self._watchers

    def stop_watchers(self) -> None:
        watchers, self._watchers = list(self._watchers.values()), {}
        for watcher in watchers:
            watcher.stop()


class RunMonitor:
    """Announces resource updates while runs report: polls the stores of open workspaces once a second."""

    def __init__(self, forge: Forge, announce: Callable[..., None], interval: float = 1.0) -> None:
        self.forge, self.announce, self.interval = forge, announce, interval
        self._seen: dict[str, tuple[int, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forge-run-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._poll()
            except Exception:  # a transient store error must not end the monitor
                log.exception("run monitor poll failed")

    def _poll(self) -> None:
        for ws in self.forge.open_workspaces():
            seen = ws.store.activity()
            for run_id, status, metrics in seen.runs:
                state = (metrics, status)
                if self._seen.get(run_id) != state:
                    first = run_id not in self._seen
                    self._seen[run_id] = state
                    if not first or status in ACTIVE:
                        self.announce(uris.run_loss(run_id), uris.run_loss_png(run_id), uris.RUNS)
            self._poll_records(ws, seen)

    def _poll_records(self, ws: Workspace, seen: Activity) -> None:
        """Cycles (stage by stage), reports and the deployment log: announce what changed since last time."""
        for cycle_id, updated_at in seen.cycles:
            key = f"cycle:{cycle_id}"
            if self._seen.get(key) != (0, str(updated_at)):
                known = key in self._seen
                self._seen[key] = (0, str(updated_at))
                if known or not self._primed(ws):
                    self.announce(uris.cycle(cycle_id), uris.CYCLES)
        for key, value, uri in (
            ("reports", seen.reports, uris.REPORTS),
            ("deployments", seen.last_deployment, uris.DEPLOYMENTS),
        ):
            full = f"{ws.repo_root}:{key}"
            if self._seen.get(full, (value, ""))[0] != value:
                self.announce(uri)
            self._seen[full] = (value, "")
        self._seen[f"{ws.repo_root}:primed"] = (1, "")

    def _primed(self, ws: Workspace) -> bool:
        """False on the first look at a workspace: what is already there is not news."""
        return f"{ws.repo_root}:primed" in self._seen


class Services:
    """The server's background services, shared by every connection: the index syncer (re-indexes saved files),
    the run monitor (announces resource updates) and the auto cycler (a cycle when a change is significant)."""

    def __init__(self, forge: Forge) -> None:
        self.forge = forge
        self.connections = 0
        self.syncer: IndexSyncer | None = None
        self.runs: RunMonitor | None = None
        self.auto: AutoCycler | None = None
        self.announce: Callable[..., None] = lambda *addresses: None

    def start(self, announce: Callable[..., None]) -> None:
        self.announce = announce
        self.syncer = IndexSyncer(self.forge.sync_index, on_synced=lambda name: announce(uris.repo_index(name)))
        self.runs = RunMonitor(self.forge, announce)
        self.auto = AutoCycler(self.forge.workspace_named, self.forge.rag, lambda name: announce(uris.CYCLES))

    def on_batch(self, name: str, batch: Batch) -> None:
        """A watcher's batch of saves: announce it, re-index the files, and let auto mode look (if [cycle] auto)."""
        self.announce(uris.repo_events(name), uris.repo_status(name))
        if self.syncer is not None:
            self.syncer.submit(name, sorted({p for _, path, dest in batch.changes for p in (path, dest) if p}))
        if self.auto is not None:
            self.auto.poke(name)

    def stop(self) -> None:
        for service in (self.syncer, self.runs, self.auto):
            if service is not None:
                service.stop()
        self.syncer = self.runs = self.auto = None
