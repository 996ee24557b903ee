"""Cold start: `forge-mcp serve` over stdio, from spawn to the first `tools/list` answer.

    python bench/startup.py [--runs 10] [--target-ms 1500]

Each run spawns a fresh `python -m forge_mcp serve --repo REPO` (REPO: a small temp git repository,
watcher on, as a client would start it) through the MCP SDK client and times from before
`Client.__aenter__` (spawn + initialize handshake) to the `list_tools()` result. Shutdown is timed
apart. Then three import checks:

  * `python -X importtime -c "import forge_mcp.server.app, forge_mcp.cli.main"`: top 10 cumulative imports
    and the total; none of the heavy ML modules may appear;
  * the same heavy-module check on `sys.modules` after `build_server(Forge([REPO]))`;
  * the same on the real serve process, spawned once more with PYTHONPROFILEIMPORTTIME=1.
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import anyio
from _common import ROOT, emit_result, make_small_repo, print_table, summary_ms

HEAVY = ("torch", "mlx", "chromadb", "transformers", "sentence_transformers", "tree_sitter", "codebleu")


def parse_importtime(stderr: str) -> list[tuple[str, int, int]]:
    """(module, self_us, cumulative_us) from `-X importtime` output, in import order."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        try:
            _, rest = line.split(":", 1)
            self_us, cum_us, name = (part.strip() for part in rest.split("|", 2))
            rows.append((name, int(self_us), int(cum_us)))
        except ValueError:
            continue
    return rows


def heavy_in(modules: list[str]) -> list[str]:
    return sorted({m for m in modules if m.split(".")[0] in HEAVY})


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    from mcp.client.stdio import get_default_environment

    env = get_default_environment()  # what the SDK passes by default
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.update(extra or {})
    return env


async def one_start(repo: Path, errlog, env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds to the tools/list answer, seconds to shut down, tools listed)."""
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "forge_mcp", "serve", "--repo", str(repo)],
        cwd=str(ROOT),
        env=env,
    )
    # Client(params) does exactly Client(stdio_client(params)); passing the transport lets the
    # server's stderr (its INFO log) go to a file instead of this table.
    client = Client(stdio_client(params, errlog=errlog))
    with anyio.fail_after(30):
        t0 = time.perf_counter()
        await client.__aenter__()
        try:
            tools = await client.list_tools()
            t1 = time.perf_counter()
        finally:
            await client.__aexit__(None, None, None)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1, len(tools.tools)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--target-ms", type=float, default=1500.0, help="p50 target (default 1500)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="forge-bench-startup-") as tmp:
        repo = make_small_repo(Path(tmp) / "small-repo")
        errlog_path = Path(tmp) / "server-stderr.log"

        # -- cold starts over stdio --------------------------------------------------------------
        starts: list[float] = []
        stops: list[float] = []
        tools_listed = 0
        with errlog_path.open("w") as errlog:
            for _ in range(args.runs):
                start, stop, tools_listed = anyio.run(one_start, repo, errlog, server_env())
                starts.append(start)
                stops.append(stop)
        start_stats, stop_stats = summary_ms(starts), summary_ms(stops)
        print_table(
            f"startup: spawn -> first tools/list answer over stdio ({args.runs} cold runs, {tools_listed} tools)",
            ["", "min ms", "p50 ms", "p95 ms", "max ms"],
            [
                ["start to tools/list", *(start_stats[k] for k in ("min_ms", "p50_ms", "p95_ms", "max_ms"))],
                ["shutdown (aexit)", *(stop_stats[k] for k in ("min_ms", "p50_ms", "p95_ms", "max_ms"))],
            ],
        )
        print(f"  first run: {starts[0] * 1000:.1f} ms; all: {', '.join(f'{s * 1000:.0f}' for s in starts)}")
        startup_ok = start_stats["p50_ms"] <= args.target_ms
        print(f"  target p50 <= {args.target_ms:.0f} ms: {'PASS' if startup_ok else 'FAIL'}")
        print()

        # -- import time of the server modules ---------------------------------------------------
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import forge_mcp.server.app, forge_mcp.cli.main"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit("importing forge_mcp.server.app failed")
        rows = parse_importtime(proc.stderr)
        total_us = sum(r[1] for r in rows)
        best: dict[str, tuple[str, int, int]] = {}
        for row in rows:  # import cycles can report one package twice (partial, then complete): keep the larger
            if row[0] not in best or row[2] > best[row[0]][2]:
                best[row[0]] = row
        top = sorted(best.values(), key=lambda r: r[2], reverse=True)[:10]
        print_table(
            f"import forge_mcp.server.app, forge_mcp.cli.main: {len(rows)} modules, total {total_us / 1000:.1f} ms "
            "(sum of self times)",
            ["module", "cumulative ms", "self ms"],
            [[name, f"{cum / 1000:.1f}", f"{own / 1000:.1f}"] for name, own, cum in top],
        )
        heavy_import = heavy_in([r[0] for r in rows])

        # -- heavy modules after build_server ----------------------------------------------------
        probe = (
            "import sys\n"
            "from forge_mcp.server.app import build_server\n"
            "from forge_mcp.server.services import Forge\n"
            f"build_server(Forge([{str(repo)!r}]))\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r}))\n"
        )
        proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit("build_server probe failed")
        heavy_build = eval(proc.stdout.strip().splitlines()[-1], {})  # a printed list of str

        # -- heavy modules in the real serve process ---------------------------------------------
        serve_log = Path(tmp) / "serve-importtime.log"
        with serve_log.open("w") as errlog:
            anyio.run(one_start, repo, errlog, server_env({"PYTHONPROFILEIMPORTTIME": "1"}))
        serve_rows = parse_importtime(serve_log.read_text(errors="replace"))
        heavy_serve = heavy_in([r[0] for r in serve_rows])

        print()
        print("heavy modules (" + ", ".join(HEAVY) + "):")
        print(f"  -X importtime import:        {heavy_import or 'none'}")
        print(f"  after build_server():        {heavy_build or 'none'}")
        print(f"  in the serve process ({len(serve_rows)} modules imported): {heavy_serve or 'none'}")
        imports_ok = not (heavy_import or heavy_build or heavy_serve) and bool(serve_rows)
        print(f"  no heavy imports: {'PASS' if imports_ok else 'FAIL'}")

    emit_result(
        {
            "bench": "startup",
            "runs": args.runs,
            "tools_listed": tools_listed,
            "start_to_tools_list": start_stats,
            "shutdown": stop_stats,
            "first_run_ms": round(starts[0] * 1000, 1),
            "target_p50_ms": args.target_ms,
            "startup_ok": startup_ok,
            "import_total_ms": round(total_us / 1000, 1),
            "import_modules": len(rows),
            "import_top10": [{"module": n, "cumulative_ms": round(c / 1000, 1)} for n, _, c in top],
            "heavy_import": heavy_import,
            "heavy_build_server": heavy_build,
            "heavy_serve": heavy_serve,
            "serve_modules": len(serve_rows),
            "imports_ok": imports_ok,
        }
    )
    return 0 if (startup_ok and imports_ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())
