"""Cycles in the background: one started by a tool call, or by auto mode when the watcher's significance
policy fires. One cycle at a time per repository; a trigger that arrives while a cycle or a training run
is going waits (queued) and is looked at again when it is over. Auto cycles never force a deployment."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from forge_mcp.core.workspace import Workspace
from forge_mcp.cycle.params import CycleParams, CycleResult
from forge_mcp.cycle.run import active_cycle, new_cycle, run_cycle
from forge_mcp.monitor.changes import monitor
from forge_mcp.train.jobs import active_run

log = logging.getLogger(__name__)
Announce = Callable[[str], None]  # called with a repository name whenever one of its cycles changed
RECHECK_S = 2.0  # how often a queued trigger looks again


def start_cycle(
    ws: Workspace, params: CycleParams, rag: Any = None, on_done: Callable[[CycleResult], None] | None = None
) -> CycleResult:
    """Record a cycle and run it on a daemon thread; returns the new record at once."""
    record = new_cycle(ws, params)

    def work() -> None:
        try:
            result = run_cycle(ws, params, rag=rag, result=record)
        except Exception:  # a bug in a stage: the cycle is recorded as failed; keep the thread's death quiet
            log.exception("cycle %s crashed", record.cycle_id)
            return
        if on_done is not None:
            on_done(result)

    threading.Thread(target=work, name=f"forge-{record.cycle_id}", daemon=True).start()
    return record


class AutoCycler:
    """Watches for significant change in repositories whose `[cycle] auto` is on, and runs cycles."""

    def __init__(
        self, workspace_named: Callable[[str], Workspace], rag_of: Callable[[Workspace], Any], announce: Announce
    ) -> None:
        self.workspace_named, self.rag_of, self.announce = workspace_named, rag_of, announce
        self._pending: set[str] = set()
        self._tried: dict[str, str | None] = {}  # repository -> HEAD its last auto cycle started at
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="forge-auto-cycle", daemon=True)
        self._thread.start()

    def poke(self, name: str) -> None:
        """A watcher batch arrived for `name`: look at its significance soon."""
        with self._wake:
            self._pending.add(name)
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._pending and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                names, self._pending = set(self._pending), set()
            for name in names:
                try:
                    if not self._consider(name):
                        self._requeue(name)
                except Exception:  # one repository's failure must not end auto mode for the others
                    log.exception("auto cycle for %s failed to start", name)

    def _requeue(self, name: str) -> None:
        def later() -> None:
            self.poke(name)

        timer = threading.Timer(RECHECK_S, later)
        timer.daemon = True
        timer.start()

    def _consider(self, name: str) -> bool:
        """True when handled (started, or nothing to do); False to look again later (something is busy)."""

        ws = self.workspace_named(name)
        if not ws.config.cycle.auto:
            return True
        if active_cycle(ws) is not None or active_run(ws) is not None:
            return False
        report = monitor(ws)
        # Once per commit: a cycle that failed (or did not reset significance) is not retried in a loop.
        if not report.significance.significant or self._tried.get(name, "") == report.head:
            return True
        self._tried[name] = report.head
        params = CycleParams.from_config(ws, trigger="auto", force_deploy=False)
        start_cycle(ws, params, rag=self.rag_of(ws), on_done=lambda _result: self.announce(name))
        self.announce(name)
        return True
