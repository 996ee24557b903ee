"""Chunking throughput on a large real codebase, against LlamaIndex's CodeSplitter and astchunk.

    python bench/chunking.py [--corpus DIR] [--competitors-python PATH] [--runs 3] [--budget 2000]
                             [--profile] [--profile-top 8]

Corpus: every `*.py` file under DIR (default: the Python standard library of the interpreter running
this script, `site-packages` left out, tests kept), minus files that are not valid UTF-8 (skipped for
every tool alike). The files are copied into a temporary git repository and committed, so the full
Miner pipeline can run on them too; the repository is deleted at the end.

Measured, `--runs` rounds, the tools interleaved within each round (their order rotates between
rounds) and the best round reported for each:

  * forge chunk_code: `forge_mcp.miner.chunker.chunk_code(path, src, "python", budget)` over all
    files, bytes read beforehand (pure chunking: parse + units + split/merge + Chunk objects);
  * forge N processes: what mine() does with a batch this large (N = one per core, at most 8; absent on
    one core): chunk + redact + encode each file's cache entry in N worker processes started inside the
    timed block, the parent decoding every entry into Chunk objects (forge_mcp.miner.parallel);
  * forge parse only: the tree-sitter parse that chunk_code starts with (tree-sitter 0.22 here);
  * forge mine() 1st: `forge_mcp.miner.mine.mine(ws)` on the repository with a fresh state folder
    (ls-tree, cat-file, skip rules, chunking, secret redaction, SQLite chunk cache);
  * forge mine() 2nd: `mine(ws)` again, nothing changed (every file from the cache);
  * llamaindex / astchunk / ts-0.26 parse only: `bench/chunk_competitors.py` run with the competitor
    venv's python on the same file list (only its chunking loop is timed; see that file for settings).

Targets: forge as mine() runs it (N processes, or chunk_code on one core) at least as fast as the faster
competitor (the one-process ratio is printed too); re-chunking the unchanged
repository (mine() 2nd / mine() 1st) under 10%. Exits 1 when one is missed. `--profile` adds a
cProfile of one more first and second mine() run (top functions by tottime, share under secrets.redact).
Last line: `RESULT {json}`.
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

import argparse
import gc
import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit_result, git, print_table

DEFAULT_COMPETITORS_PYTHON = "/tmp/bench-competitors-venv/bin/python"
COMPETITORS = ("llamaindex", "astchunk")


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"]).resolve()


def collect(corpus: Path) -> tuple[list[tuple[str, bytes]], int]:
    """(relative path, bytes) for every UTF-8 `*.py` regular file, and how many were not UTF-8."""
    files: list[tuple[str, bytes]] = []
    not_utf8 = 0
    for path in sorted(corpus.rglob("*.py")):
        rel = path.relative_to(corpus)
        if "site-packages" in rel.parts or ".git" in rel.parts or path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8 += 1
            continue
        files.append((rel.as_posix(), data))
    return files, not_utf8


def build_repo(root: Path, files: list[tuple[str, bytes]]) -> Path:
    repo = root / "corpus"
    for rel, data in files:
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "corpus")
    return repo


# -- the measurements ------------------------------------------------------------------------------
class Clock:
    """Wall and CPU time of a block, and the time the cyclic garbage collector ran inside it."""

    def __enter__(self) -> Clock:
        self.gc_s = 0.0
        self._gc_start = 0.0
        gc.callbacks.append(self._on_gc)
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_s += time.perf_counter() - self._gc_start

    def result(self, **extra: object) -> dict[str, object]:
        return {"seconds": self.seconds, "cpu": self.cpu, "gc_s": self.gc_s, "errors": 0, **extra}


def time_chunk_code(files: list[tuple[str, bytes]], budget: int) -> dict[str, float]:
    from forge_mcp.miner.chunker import chunk_code

    chunk_code("warmup.py", b"def f(x):\n    return x\n", "python", budget)
    chunks = 0
    with Clock() as clock:
        for path, data in files:
            chunks += len(chunk_code(path, data, "python", budget))
    return clock.result(chunks=chunks)


def time_chunk_processes(files: list[tuple[str, bytes]], budget: int, workers: int) -> dict[str, float]:
    """What mine() does with a large batch: chunk + redact + encode in `workers` processes (started inside
    the timed block), then the parent decodes every file's entry into Chunk objects."""
    import orjson

    from forge_mcp.miner.chunker import Chunk
    from forge_mcp.miner.parallel import chunk_in_processes

    chunks = 0
    with Clock() as clock:
        for _path, entry in chunk_in_processes(files, budget, workers):
            chunks += len([Chunk.from_row(row) for row in orjson.loads(entry).get("chunks", ())])
    return clock.result(chunks=chunks)


def time_parse(files: list[tuple[str, bytes]]) -> dict[str, float]:
    from forge_mcp.miner.languages import parser_for

    parser = parser_for("python")
    with Clock() as clock:
        for _, data in files:
            parser.parse(data)
    return clock.result(chunks=0)


def open_workspace(repo: Path, state: Path, budget: int):
    from forge_mcp.core.workspace import Workspace

    return Workspace.open(repo, {"state_dir": str(state), "miner": {"chunk_budget": budget}})


def time_mine(repo: Path, state: Path, budget: int) -> tuple[dict[str, float], dict[str, float], set[str]]:
    """First mine() in a fresh state folder, then a second one with nothing changed."""
    from forge_mcp.miner.mine import mine

    ws = open_workspace(repo, state, budget)
    with Clock() as c1:
        first = mine(ws)
    paths = {c.path for c in first.chunks}  # files that gave no chunk are empty: their bytes don't count
    s1, n1 = first.stats, len(first.chunks)
    del first  # the second run starts as a new call would, without the first one's chunks alive
    with Clock() as c2:
        second = mine(ws)
    s2 = second.stats
    return (
        c1.result(
            chunks=n1,
            files_parsed=s1.files_parsed,
            files_chunked=s1.files_chunked,
            skipped=dict(s1.skipped),
            secrets_redacted=sum(s1.secrets_redacted.values()),
        ),
        c2.result(chunks=len(second.chunks), files_parsed=s2.files_parsed, files_reused=s2.files_reused),
        paths,
    )


def run_competitor(python: str, tool: str, listfile: Path, budget: int) -> dict[str, object]:
    script = Path(__file__).resolve().parent / "chunk_competitors.py"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [python, str(script), "--files", str(listfile), "--tool", tool, "--chunk-chars", str(budget)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_mine(ws, top: int) -> dict[str, object]:
    import cProfile
    import pstats

    from forge_mcp.miner.mine import mine

    prof = cProfile.Profile()
    prof.enable()
    mine(ws)
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    rows = []
    redact_cum = 0.0
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        where = f"{Path(filename).name}:{line}({name})" if line else name
        if "forge_mcp" in filename:
            where = f"{Path(filename).relative_to(ROOT).as_posix()}:{line}({name})"
        rows.append((tt, ct, nc, where))
        if filename.endswith(os.path.join("miner", "secrets.py")) and name == "redact":
            redact_cum += ct
    rows.sort(reverse=True)
    return {
        "total_s": total,
        "redact_cum_s": redact_cum,
        "top": [
            {"function": w, "calls": n, "tottime_s": round(tt, 3), "cumtime_s": round(ct, 3)}
            for tt, ct, n, w in rows[:top]
        ],
    }


# -- main ------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="folder whose *.py files are chunked (default: this interpreter's standard library)",
    )
    ap.add_argument(
        "--competitors-python",
        default=None,
        help=f"python of the competitor venv (default {DEFAULT_COMPETITORS_PYTHON} if present)",
    )
    ap.add_argument("--runs", type=int, default=3, help="rounds; the best of each tool is reported (default 3)")
    ap.add_argument("--budget", type=int, default=2000, help="chunk size in characters for every tool (default 2000)")
    ap.add_argument("--target-rechunk", type=float, default=0.10, help="mine() 2nd / 1st must be below (default 0.10)")
    ap.add_argument("--profile", action="store_true", help="also cProfile one more first and second mine() run")
    ap.add_argument("--profile-top", type=int, default=8)
    args = ap.parse_args()

    corpus = (args.corpus or stdlib_dir()).resolve()
    python = args.competitors_python
    competitors_note = ""
    if python is None:
        python = DEFAULT_COMPETITORS_PYTHON if Path(DEFAULT_COMPETITORS_PYTHON).exists() else None
        if python is None:
            competitors_note = (
                f"competitors skipped: {DEFAULT_COMPETITORS_PYTHON} not found "
                "(set the venv up as bench/README.md says, or pass --competitors-python)"
            )
    elif not Path(python).exists():
        print(f"error: --competitors-python {python} does not exist", file=sys.stderr)
        return 2

    files, not_utf8 = collect(corpus)
    if not files:
        print(f"error: no UTF-8 *.py files under {corpus}", file=sys.stderr)
        return 2
    total_bytes = sum(len(d) for _, d in files)
    size_of = {p: len(d) for p, d in files}
    print(
        f"corpus: {corpus}: {len(files)} .py files, {total_bytes / 1e6:.2f} MB "
        f"({not_utf8} not UTF-8, left out for every tool); budget {args.budget} chars; best of {args.runs}"
    )
    if competitors_note:
        print(competitors_note)

    tmp = Path(tempfile.mkdtemp(prefix="forge-bench-chunking-"))
    try:
        t0 = time.perf_counter()
        repo = build_repo(tmp, files)
        listfile = tmp / "files.txt"
        listfile.write_text("".join(f"{repo / p}\n" for p, _ in files), encoding="utf-8")
        print(f"git repository built in {time.perf_counter() - t0:.1f} s")

        from forge_mcp.miner.parallel import plan_workers

        workers = plan_workers(0, total_bytes, len(files))  # what mine() picks for this batch on this machine
        procs = f"forge {workers} processes"
        tools = ["forge chunk_code", "forge parse only"] + ([procs] if workers > 1 else [])
        if python:
            tools += [*COMPETITORS, "ts-0.26 parse only"]
        results: dict[str, list[dict[str, object]]] = {t: [] for t in [*tools, "forge mine() 1st", "forge mine() 2nd"]}
        versions: dict[str, str] = {}
        mined_paths: set[str] = set()
        for r in range(args.runs):
            order = tools[r % len(tools) :] + tools[: r % len(tools)]
            for tool in order:
                if tool == "forge chunk_code":
                    res: dict[str, object] = time_chunk_code(files, args.budget)
                elif tool == procs:
                    res = time_chunk_processes(files, args.budget, workers)
                elif tool == "forge parse only":
                    res = time_parse(files)
                else:
                    res = run_competitor(python, "parse" if tool.startswith("ts-") else tool, listfile, args.budget)
                    versions[tool] = str(res.get("version", ""))
                results[tool].append(res)
            first, second, mined_paths = time_mine(repo, tmp / f"state-{r}", args.budget)
            results["forge mine() 1st"].append(first)
            results["forge mine() 2nd"].append(second)
            print(f"  round {r + 1}: " + ", ".join(f"{t} {results[t][-1]['seconds']:.2f} s" for t in results))

        best = {t: min(runs, key=lambda x: float(x["seconds"])) for t, runs in results.items()}
        mine_files = int(best["forge mine() 1st"]["files_chunked"])
        mine_bytes = sum(size_of.get(p, 0) for p in mined_paths)
        forge_s = float(best["forge chunk_code"]["seconds"])
        rows = []
        table: dict[str, dict[str, object]] = {}
        for tool, res in best.items():
            n_files, n_bytes = (mine_files, mine_bytes) if tool.startswith("forge mine") else (len(files), total_bytes)
            secs = float(res["seconds"])
            row = {
                "files": n_files,
                "mb": round(n_bytes / 1e6, 2),
                "seconds": round(secs, 3),
                "cpu_s": round(float(res.get("cpu", 0.0)), 3),
                "gc_s": round(float(res["gc_s"]), 3) if "gc_s" in res else None,
                "files_per_s": round(n_files / secs, 1),
                "mb_per_s": round(n_bytes / 1e6 / secs, 2),
                "chunks": res.get("chunks", 0),
                "errors": res.get("errors", 0),
                "forge_x": round(secs / forge_s, 2),
                "all_seconds": [round(float(x["seconds"]), 3) for x in results[tool]],
            }
            table[tool] = row
            rows.append(
                [
                    tool,
                    row["files"],
                    f"{row['mb']:.2f}",
                    f"{secs:.2f}",
                    f"{row['cpu_s']:.2f}",
                    "-" if row["gc_s"] is None else f"{row['gc_s']:.2f}",
                    f"{row['files_per_s']:.0f}",
                    f"{row['mb_per_s']:.2f}",
                    row["chunks"] or "-",
                    row["errors"],
                    f"{row['forge_x']:.2f}",
                ]
            )
        print()
        print_table(
            "Best of each (forge x = tool seconds / forge chunk_code seconds: > 1 means forge is faster)",
            ["tool", "files", "MB", "seconds", "cpu s", "gc s", "files/s", "MB/s", "chunks", "errors", "forge x"],
            rows,
        )
        print(
            "  (seconds: wall clock of the best round; cpu s: that round's process CPU time; gc s: time in the"
            " cyclic GC, forge only; files/s and MB/s from wall seconds)"
        )
        for tool, v in versions.items():
            print(f"  {tool}: {v}")
        m1 = best["forge mine() 1st"]
        print(
            f"  mine(): {m1['files_chunked']} files chunked, skipped {m1['skipped']}, "
            f"{m1['secrets_redacted']} secrets redacted; 2nd run parsed {best['forge mine() 2nd']['files_parsed']} "
            f"files, reused {best['forge mine() 2nd']['files_reused']}"
        )
        errs = {
            t: results[t][-1].get("error_examples")
            for t in COMPETITORS
            if t in results and results[t][-1].get("errors")
        }
        for tool, examples in errs.items():
            print(f"  {tool} errors, e.g.: {examples}")

        verdicts: dict[str, object] = {}
        ok = True
        print()
        present = [t for t in COMPETITORS if t in best]
        if present:
            fastest = min(present, key=lambda t: float(best[t]["seconds"]))
            comp_s = float(best[fastest]["seconds"])
            # The product's throughput: mine() chunks a batch this large in `workers` processes.
            product = procs if procs in best else "forge chunk_code"
            product_s = float(best[product]["seconds"])
            passed = product_s <= comp_s
            ok &= passed

            def min_cpu(tool: str) -> float:
                return min(float(x.get("cpu", 0.0)) for x in results[tool])

            forge_cpu, comp_cpu = min_cpu("forge chunk_code"), min_cpu(fastest)
            verdicts["chunking"] = {
                "faster_competitor": fastest,
                "forge": product,
                "workers": workers,
                "forge_s": round(product_s, 3),
                "competitor_s": round(comp_s, 3),
                "speedup": round(comp_s / product_s, 3),
                "single_process_s": round(forge_s, 3),
                "single_process_speedup": round(comp_s / forge_s, 3),
                "forge_cpu_s": round(forge_cpu, 3),
                "competitor_cpu_s": round(comp_cpu, 3),
                "pass": passed,
            }
            print(
                f"{'PASS' if passed else 'FAIL'} chunking: {product} {product_s:.2f} s vs {fastest} "
                f"{comp_s:.2f} s (forge {comp_s / product_s:.2f}x; target >= 1.00x)"
            )
            print(
                f"  one process: forge chunk_code {forge_s:.2f} s ({comp_s / forge_s:.2f}x); best CPU times "
                f"{forge_cpu:.2f} s vs {comp_cpu:.2f} s ({comp_cpu / forge_cpu:.2f}x)"
            )
        else:
            verdicts["chunking"] = {"skipped": competitors_note or "no competitors"}
            print("SKIP chunking vs competitors: " + (competitors_note or "no competitors"))
        ratio = float(best["forge mine() 2nd"]["seconds"]) / float(m1["seconds"])
        ratios = [
            float(b["seconds"]) / float(a["seconds"])
            for a, b in zip(results["forge mine() 1st"], results["forge mine() 2nd"], strict=False)
        ]
        rechunk_ok = ratio < args.target_rechunk and int(best["forge mine() 2nd"]["files_parsed"]) == 0
        ok &= rechunk_ok
        verdicts["rechunk"] = {
            "first_s": round(float(m1["seconds"]), 3),
            "second_s": round(float(best["forge mine() 2nd"]["seconds"]), 3),
            "ratio": round(ratio, 4),
            "per_round": [round(x, 4) for x in ratios],
            "target": args.target_rechunk,
            "pass": rechunk_ok,
        }
        print(
            f"{'PASS' if rechunk_ok else 'FAIL'} re-chunk unchanged repo: "
            f"mine() 2nd {best['forge mine() 2nd']['seconds']:.2f} s"
            f" / 1st {m1['seconds']:.2f} s = {ratio:.1%} (per round: {', '.join(f'{x:.1%}' for x in ratios)};"
            f" target < {args.target_rechunk:.0%})"
        )

        profile = None
        if args.profile:
            ws = open_workspace(repo, tmp / "state-profile", args.budget)
            profile = {"first": profile_mine(ws, args.profile_top), "second": profile_mine(ws, args.profile_top)}
            for which, label in (
                ("first", "first mine() run (fresh state)"),
                ("second", "second mine() run (unchanged)"),
            ):
                prof = profile[which]
                print()
                print_table(
                    f"cProfile of one {label}: {prof['total_s']:.2f} s under the profiler; "
                    f"top {args.profile_top} by tottime",
                    ["function", "calls", "tottime s", "cumtime s"],
                    [
                        [x["function"], x["calls"], f"{x['tottime_s']:.3f}", f"{x['cumtime_s']:.3f}"]
                        for x in prof["top"]
                    ],
                )
                share = prof["redact_cum_s"] / prof["total_s"] if prof["total_s"] else 0.0
                prof["redact_share"] = round(share, 4)
                print(f"  secrets.redact (cumulative): {prof['redact_cum_s']:.2f} s = {share:.1%} of the profiled run")

        print()
        emit_result(
            {
                "corpus": str(corpus),
                "files": len(files),
                "bytes": total_bytes,
                "not_utf8": not_utf8,
                "budget": args.budget,
                "runs": args.runs,
                "tools": table,
                "versions": versions,
                "verdicts": verdicts,
                "profile": profile,
                "pass": ok,
            }
        )
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
