"""1,000 hostile tool calls over one stdio session: each gets a result or a tool error that says what to
change; the server never crashes, never writes outside its roots, and still serves afterwards."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.server.hostile import PROTOCOL_FAILURES, Call, hostile_calls, unexplained

pytestmark = pytest.mark.anyio
CALLS = 1000


async def run_fuzz(client: Client, calls: list[Call]) -> tuple[Counter[str], list[str]]:
    """Counts of ok / tool_error / protocol_error, and the failures (call and why)."""
    counts: Counter[str] = Counter()
    failures: list[str] = []
    for call in calls:
        shown = {k: (v[:40] + "…" if isinstance(v, str) and len(v) > 40 else v) for k, v in call.arguments.items()}
        try:
            result = await client.call_tool(call.tool, call.arguments)
        except PROTOCOL_FAILURES as exc:  # a protocol-level failure: the call never got a tool result
            counts["protocol_error"] += 1
            failures.append(f"{call.tool}({shown!r}): {type(exc).__name__}: {str(exc)[:300]}")
            continue
        if not result.is_error:
            counts["ok"] += 1
            continue
        counts["tool_error"] += 1
        text = " ".join(getattr(c, "text", "") for c in result.content)
        why = unexplained(text, call)
        if why:
            failures.append(f"{call.tool}({shown!r}): {why}: {text[:300]}")
    return counts, failures


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


async def test_a_thousand_hostile_calls_get_their_reasons(make_repo, tmp_path: Path) -> None:
    repo = make_repo("fuzzed")
    repo.commit("docs only", {"README.md": "# fuzzed\n\nNothing to train on.\n"})  # no training can start
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text('{"mine": true}\n')
    before = _listing(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    params = StdioServerParameters(
        command=sys.executable, env=env, args=["-m", "forge_mcp", "serve", "--repo", str(repo.path), "--no-watch"]
    )
    async with Client(params) as client:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        counts, failures = await run_fuzz(client, hostile_calls(tools, outside, CALLS))
        after_all = await client.call_tool("monitor_repo", {})  # the same session still serves
    assert not after_all.is_error
    assert sum(counts.values()) == CALLS and counts["protocol_error"] == 0, (counts, failures[:20])
    assert not failures, f"{len(failures)} unexplained of {dict(counts)}:\n" + "\n".join(failures[:30])
    created = {p for p in _listing(tmp_path) - before if not p.startswith("fuzzed")}
    assert not created and (outside / "config.json").read_text() == '{"mine": true}\n', created
