"""Hostile tool calls over one stdio session: how many, how each ended, how long they took.

    python bench/fuzz.py [--calls 1000] [--seed 0]

The calls come from tests/server/hostile.py (generated from the tools' input schemas; see its docstring),
sent to a fresh `forge-mcp serve` over stdio on a docs-only temp repository, as tests/server/test_fuzz.py
does. Reported: results, tool errors (explained / unexplained), protocol errors, whether the session still
serves, files created outside the repository, per-tool counts, p50/p95/max call latency. Ends with
`RESULT {json}`.
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.server.hostile import PROTOCOL_FAILURES, hostile_calls, unexplained


def _repo(root: Path) -> Path:
    repo = root / "fuzzed"
    repo.mkdir()
    (repo / "README.md").write_text("# fuzzed\n\nNothing to train on.\n")
    env = os.environ | {
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "docs"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    return repo


async def _fuzz(repo: Path, outside: Path, count: int, seed: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    params = StdioServerParameters(
        command=sys.executable, env=env, args=["-m", "forge_mcp", "serve", "--repo", str(repo), "--no-watch"]
    )
    ends: Counter[str] = Counter()
    per_tool: Counter[str] = Counter()
    latencies: list[float] = []
    examples: list[str] = []
    async with Client(params) as client:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        for call in hostile_calls(tools, outside, count, seed):
            per_tool[call.tool] += 1
            started = time.perf_counter()
            try:
                result = await client.call_tool(call.tool, call.arguments)
            except PROTOCOL_FAILURES as exc:  # a protocol failure: counted, and the run goes on
                ends["protocol_error"] += 1
                examples.append(f"{call.tool}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            finally:
                latencies.append(time.perf_counter() - started)
            if not result.is_error:
                ends["ok"] += 1
                continue
            text = " ".join(getattr(c, "text", "") for c in result.content)
            why = unexplained(text, call)
            ends["tool_error_unexplained" if why else "tool_error_explained"] += 1
            if why:
                examples.append(f"{call.tool}: {why}: {text[:200]}")
        still_serves = not (await client.call_tool("monitor_repo", {})).is_error
    ordered = sorted(latencies)
    return {
        "calls": count,
        **{k: ends.get(k, 0) for k in ("ok", "tool_error_explained", "tool_error_unexplained", "protocol_error")},
        "still_serves": still_serves,
        "per_tool": dict(sorted(per_tool.items())),
        "latency_ms": {
            "p50": round(statistics.median(ordered) * 1000, 1),
            "p95": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 1),
            "max": round(ordered[-1] * 1000, 1),
        },
        "examples": examples[:20],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="forge-fuzz-") as tmp:
        root = Path(tmp)
        repo, outside = _repo(root), root / "outside"
        outside.mkdir()
        (outside / "config.json").write_text('{"mine": true}\n')
        started = time.perf_counter()
        result = anyio.run(_fuzz, repo, outside, args.calls, args.seed)
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["created_outside"] = sorted(
            str(p.relative_to(root)) for p in outside.rglob("*") if p.name != "config.json"
        )
        result["outside_config_intact"] = (outside / "config.json").read_text() == '{"mine": true}\n'
    for key in (
        "calls",
        "ok",
        "tool_error_explained",
        "tool_error_unexplained",
        "protocol_error",
        "still_serves",
        "created_outside",
        "outside_config_intact",
        "latency_ms",
        "seconds",
    ):
        print(f"{key:24} {result[key]}")
    for line in result["examples"]:
        print("  !", line)
    print("RESULT " + json.dumps(result))
    return 0 if not result["tool_error_unexplained"] and not result["protocol_error"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
