"""A file save to its watcher event being visible through the MCP server, for both protocol eras.

    python bench/watcher.py [--saves 30] [--gap 0.3] [--target-ms 500]

The server runs in-process (`build_server(Forge([repo]))`, watcher on) over a small temp repository.

  * 2025-era: `Client(server, mode="legacy", message_handler=...)` after
    `subscribe_resource("forge://repos/<name>/events")`;
  * 2026-era: `Client(server)` (negotiates 2026-07-28 in-process) inside
    `client.listen(resource_subscriptions=[uri])`.

Each save alternates between rewriting a tracked file and creating a new one (each save its own
path and content). t0 is taken right before the write; t1 when a resource-updated notification
for the events URI has arrived after t0 AND a `read_resource(uri)` made after it lists the path in
its `events`. Between saves the script waits `--gap` seconds so each save is its own debounced batch
(debounce 150 ms by default). Every wait is bounded (`anyio.fail_after`); a save not seen within
`--timeout` seconds counts as a miss.
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

import argparse
import json
import logging
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from _common import emit_result, make_small_repo, print_table, summary_ms

ERAS = ("2025-legacy", "2026-listen")


class Save:
    def __init__(self, repo: Path, era: int, k: int, saves: int) -> None:
        self.new = k % 2 == 1
        rel = f"src/new_{era}_{k:03d}.py" if self.new else f"src/mod_{era * saves + k:03d}.py"
        self.rel, self.path = rel, repo / rel
        self.content = f"# save {k} of era {era} at {time.time_ns()}\nVALUE = {k}\n"


def events_kinds(result) -> dict[str, str]:
    """path -> kind of its newest event, from an events resource read."""
    data = json.loads(result.contents[0].text)
    kinds: dict[str, str] = {}
    for event in data["events"]:  # newest first
        kinds.setdefault(event["path"], event["kind"])
    return kinds


async def measure_save(
    save: Save,
    uri: str,
    read: Callable[[str], Awaitable[object]],
    next_notification: Callable[[], Awaitable[float]],
    timeout: float,
) -> tuple[float, float, int, str]:
    """(save -> notification s, save -> visible s, notifications consumed, event kind); raises TimeoutError."""
    t0 = time.perf_counter()
    save.path.write_text(save.content, encoding="utf-8")
    first_notify: float | None = None
    notes = 0
    with anyio.fail_after(timeout):
        while True:
            t_note = await next_notification()
            notes += 1
            first_notify = first_notify or t_note
            kinds = events_kinds(await read(uri))
            if save.rel in kinds:
                return first_notify - t0, time.perf_counter() - t0, notes, kinds[save.rel]


async def legacy_era(repo: Path, name: str, saves: list[Save], gap: float, timeout: float) -> dict:
    import mcp_types as types
    from mcp import Client, MCPDeprecationWarning

    from forge_mcp.server.app import build_server
    from forge_mcp.server.services import Forge

    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    uri = f"forge://repos/{name}/events"
    box = {"seq": 0, "t": 0.0, "event": anyio.Event()}

    async def handler(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification) and str(message.params.uri) == uri:
            box["seq"] += 1
            box["t"] = time.perf_counter()
            box["event"].set()
            box["event"] = anyio.Event()

    seen = 0

    async def next_notification() -> float:
        nonlocal seen
        while box["seq"] <= seen:
            await box["event"].wait()
        seen = box["seq"]
        return box["t"]

    server = build_server(Forge([repo]))
    async with Client(server, mode="legacy", message_handler=handler) as client:
        await client.subscribe_resource(uri)
        return await run_saves(
            saves,
            uri,
            client.read_resource,
            next_notification,
            gap,
            timeout,
            lambda: box["seq"],
            client.protocol_version,
        )


async def listen_era(repo: Path, name: str, saves: list[Save], gap: float, timeout: float) -> dict:
    from mcp import Client
    from mcp.client.subscriptions import ResourceUpdated

    from forge_mcp.server.app import build_server
    from forge_mcp.server.services import Forge

    uri = f"forge://repos/{name}/events"
    count = 0
    server = build_server(Forge([repo]))
    async with Client(server) as client:
        async with client.listen(resource_subscriptions=[uri]) as sub:

            async def next_notification() -> float:
                nonlocal count
                while True:
                    event = await sub.__anext__()
                    if isinstance(event, ResourceUpdated) and event.uri == uri:
                        count += 1
                        return time.perf_counter()

            return await run_saves(
                saves,
                uri,
                client.read_resource,
                next_notification,
                gap,
                timeout,
                lambda: count,
                client.protocol_version,
            )


async def run_saves(saves, uri, read, next_notification, gap, timeout, notified, version) -> dict:
    # The watcher starts in the server's lifespan; give it its quiet gap before the first save.
    await anyio.sleep(gap)
    notify_s: list[float] = []
    visible_s: list[float] = []
    misses: list[str] = []
    extra = 0
    by_kind = {"modified": [], "created": []}
    wrong_kind: list[str] = []
    for save in saves:
        try:
            to_note, to_visible, notes, kind = await measure_save(save, uri, read, next_notification, timeout)
        except TimeoutError:
            misses.append(save.rel)
        else:
            if kind != ("created" if save.new else "modified"):
                wrong_kind.append(f"{save.rel}: {kind}")
            notify_s.append(to_note)
            visible_s.append(to_visible)
            by_kind["created" if save.new else "modified"].append(to_visible)
            extra += notes - 1
        await anyio.sleep(gap)  # quiet time: the next save is its own batch
    return {
        "protocol_version": version,
        "notify": notify_s,
        "visible": visible_s,
        "misses": misses,
        "extra_notifications": extra,
        "by_kind": by_kind,
        "notifications_total": notified(),
        "wrong_kind": wrong_kind,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saves", type=int, default=30, help="saves per era (default 30)")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between saves (default 0.3)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-save limit in seconds (default 5)")
    parser.add_argument("--target-ms", type=float, default=500.0, help="p95 target (default 500)")
    args = parser.parse_args()
    logging.getLogger("forge_mcp").setLevel(logging.WARNING)  # no "watching ..." lines in the table

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="forge-bench-watcher-") as tmp:
        repo = make_small_repo(Path(tmp) / "watched-repo", files=2 * args.saves)
        from forge_mcp.server.services import Forge

        name = next(iter(Forge([repo]).repos))  # the resource name: the folder's basename, sanitised
        for era, (label, fn) in enumerate(zip(ERAS, (legacy_era, listen_era), strict=False)):
            saves = [Save(repo, era, k, args.saves) for k in range(args.saves)]
            results[label] = anyio.run(fn, repo, name, saves, args.gap, args.timeout)

    rows = []
    summary: dict[str, dict] = {}
    ok = True
    for label, r in results.items():
        vis = summary_ms(r["visible"]) if r["visible"] else {}
        note = summary_ms(r["notify"]) if r["notify"] else {}
        summary[label] = {
            "protocol_version": r["protocol_version"],
            "visible": vis,
            "notify": note,
            "misses": len(r["misses"]),
            "missed_paths": r["misses"],
            "extra_notifications": r["extra_notifications"],
            "notifications_total": r["notifications_total"],
            "wrong_kind": r["wrong_kind"],
            "visible_p50_by_kind": {k: summary_ms(v)["p50_ms"] for k, v in r["by_kind"].items() if v},
        }
        era_ok = bool(vis) and not r["misses"] and vis["p95_ms"] <= args.target_ms
        ok = ok and era_ok
        rows.append(
            [
                f"{label} ({r['protocol_version']})",
                len(r["visible"]),
                len(r["misses"]),
                note.get("p50_ms", "-"),
                vis.get("p50_ms", "-"),
                vis.get("p95_ms", "-"),
                vis.get("max_ms", "-"),
                "PASS" if era_ok else "FAIL",
            ]
        )
    print_table(
        f"watcher: save -> notification -> read_resource lists the path ({args.saves} saves per era, "
        f"gap {args.gap:.2f} s)",
        ["era", "seen", "missed", "notify p50", "visible p50", "p95", "max", f"p95<={args.target_ms:.0f}"],
        rows,
    )
    for label, s in summary.items():
        kinds = ", ".join(f"{k} {v} ms" for k, v in s["visible_p50_by_kind"].items())
        print(
            f"  {label}: visible p50 by save kind: {kinds}; notifications {s['notifications_total']} "
            f"({s['extra_notifications']} beyond one per save)"
        )
        if s["wrong_kind"]:
            print(f"    unexpected event kinds: {', '.join(s['wrong_kind'])}")
        if s["missed_paths"]:
            print(f"    missed: {', '.join(s['missed_paths'])}")
    emit_result(
        {
            "bench": "watcher",
            "saves": args.saves,
            "gap_s": args.gap,
            "target_p95_ms": args.target_ms,
            "eras": summary,
            "ok": ok,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
