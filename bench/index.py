"""Index freshness and speed, through the MCP server with its watcher (the path an agent uses).

1. build: `index_repo` on a generated repository of 2,000 files (about 5,000 chunks);
2. unchanged re-index: `index_repo` again; target under 2 s for 2,000 files;
3. `rag_search` latency, warm, on ~5,000 chunks (hybrid, dense, lexical); target p50 under 50 ms;
4. freshness: a one-file save until `rag_search` returns the new function first; target p95 under 1 s.

  python bench/index.py [--files 2000] [--saves 20]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import emit_result, git, print_table, summary_ms
from mcp import Client

from forge_mcp.server.app import build_server
from forge_mcp.server.services import Forge

VERBS = ["parse", "render", "validate", "merge", "compute", "fetch", "store", "encode", "resolve", "schedule"]
NOUNS = ["invoice", "customer", "order", "payment", "token", "report", "session", "address", "ticket", "batch"]


def make_repo(path: Path, files: int) -> None:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        verb, noun = VERBS[i % 10], NOUNS[(i // 10) % 10]
        body = "".join(
            f"def {verb}_{noun}_{i}_{j}(value, options=None):\n"
            f"    result = helpers.{verb}(value, kind='{noun}', step={j})\n"
            f"    return result if options is None else options.apply(result)\n\n\n"
            for j in range(2 + i % 2)
        )
        target = path / f"pkg{i // 100:02d}" / f"{noun}_{verb}_{i}.py"
        target.parent.mkdir(exist_ok=True)
        target.write_text(f"import helpers\n\n\n{body}", encoding="utf-8")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "generated")


async def measure(repo: Path, saves: int) -> dict[str, object]:
    out: dict[str, object] = {}
    async with Client(build_server(Forge([repo]), watch=True)) as client:
        started = time.perf_counter()
        built = (await client.call_tool("index_repo", {})).structured_content
        out["build"] = {
            "seconds": round(time.perf_counter() - started, 1),
            "files": built["files_indexed"],
            "chunks": built["chunks"],
            "chunks_per_s": round(built["chunks"] / (time.perf_counter() - started), 1),
        }
        reindex = []
        for _ in range(5):
            started = time.perf_counter()
            again = (await client.call_tool("index_repo", {})).structured_content
            reindex.append(time.perf_counter() - started)
            assert again["files_changed"] == 0
        out["unchanged_reindex"] = summary_ms(reindex)
        for mode in ("hybrid", "dense", "lexical"):
            lat = []
            for n in range(40):
                query = f"{VERBS[n % 10]} the {NOUNS[(n * 3) % 10]} value with options"
                started = time.perf_counter()
                result = await client.call_tool("rag_search", {"query": query, "k": 10, "mode": mode})
                lat.append(time.perf_counter() - started)
                assert not result.is_error
            out[f"search_{mode}"] = summary_ms(lat[5:])  # the first few warm the caches
        fresh = []
        for n in range(saves):
            name = f"reconcile_ledger_entry_{n}"
            target = repo / "pkg00" / f"fresh_{n % 3}.py"
            started = time.perf_counter()
            target.write_text(f"def {name}(entry):\n    return ledger.reconcile(entry, pass_number={n})\n")
            with anyio.fail_after(30):
                while True:
                    hits = (
                        await client.call_tool("rag_search", {"query": name, "k": 1, "mode": "lexical"})
                    ).structured_content["hits"]
                    if hits and hits[0]["symbol"] == name:
                        break
                    await anyio.sleep(0.01)
            fresh.append(time.perf_counter() - started)
            await anyio.sleep(0.3)
        out["save_to_searchable"] = summary_ms(fresh)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--saves", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forge-index-bench-"))
    try:
        make_repo(work / "repo", args.files)
        out = anyio.run(measure, work / "repo", args.saves)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    build = out["build"]
    print(
        f"build: {build['files']} files, {build['chunks']} chunks in {build['seconds']} s "
        f"({build['chunks_per_s']} chunks/s, embedding included)"
    )
    rows = [[k, *(v[x] for x in ("n", "min_ms", "p50_ms", "p95_ms", "max_ms"))] for k, v in out.items() if k != "build"]
    print_table(
        "latencies through MCP (in-process client)", ["what", "n", "min ms", "p50 ms", "p95 ms", "max ms"], rows
    )
    checks = {
        "unchanged re-index < 2 s": out["unchanged_reindex"]["p50_ms"] < 2000,
        "rag_search hybrid p50 < 50 ms": out["search_hybrid"]["p50_ms"] < 50,
        "save -> searchable p95 < 1 s": out["save_to_searchable"]["p95_ms"] < 1000,
    }
    for name, ok in checks.items():
        print(f"  {name}: {'PASS' if ok else 'MISS'}")
    emit_result({"bench": "index", **out, "checks": checks})
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
