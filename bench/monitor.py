"""`monitor_repo` on a large repository: 5,000 commits, 2,000 files.

    python bench/monitor.py [--commits 5000] [--files 2000] [--runs 20] [--target-ms 200] [--gc]

The repository is generated with `git fast-import` from a deterministic stream (the first commits
add the files, each later commit modifies a few, with a rename or a delete+add now and then, and an
annotated tag every 250 commits), then checked out. `forge_mcp.monitor.changes.monitor(ws)` is timed, after
one warm-up, for three bases:

  a. last trained commit = HEAD~50 (`ws.mark_trained`);
  b. never trained (compared against the start of history: every file is "added");
  c. `since=` a tag 500 commits back.

Then the MCP tool path: an in-process `Client(build_server(Forge([repo]), watch=False))` calling
`monitor_repo` (case a). `--gc` repacks first (`git gc`), like a cloned repository; the default
measures the fast-import pack as written.
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

import argparse
import random
import subprocess
import tempfile
import time
from pathlib import Path

import anyio
from _common import GIT_ENV, emit_result, git, print_table, summary_ms

IDENT = "Bench <bench@example.invalid>"
EPOCH = 1_700_000_000
TAG_EVERY = 250
LINES_PER_FILE = 40


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def fast_import_stream(n_commits: int, n_files: int, seed: int = 42) -> tuple[bytes, list[str]]:
    """The whole history as one fast-import stream; returns (stream, tag names in order)."""
    rng = random.Random(seed)
    out: list[bytes] = []
    files: dict[str, list[str]] = {}
    tags: list[str] = []
    create_commits = max(1, min(n_commits // 10, -(-n_files // 100)))  # about 100 files per commit
    per_commit = -(-n_files // create_commits)
    next_file = 0
    new_names = 0

    def new_content(path: str, salt: int) -> list[str]:
        lines = [f'"""Module {path}."""\n', "\n"]
        for k in range((LINES_PER_FILE - 2) // 2):
            lines.append(f"def f_{k}(x):\n")
            lines.append(f"    return x * {k} + {salt % 997}\n")
        return lines

    for i in range(1, n_commits + 1):
        ops: list[bytes] = []
        if i <= create_commits:
            subject = f"add files {next_file}..{min(next_file + per_commit, n_files) - 1}"
            for _ in range(per_commit):
                if next_file >= n_files:
                    break
                path = f"pkg{next_file % 40:02d}/mod_{next_file:04d}.py"
                files[path] = new_content(path, next_file)
                ops.append(f"M 100644 inline {path}\n".encode() + _data("".join(files[path]).encode()))
                next_file += 1
        else:
            subject = f"change {i}"
            paths = sorted(files)
            if i % 97 == 0:  # a rename
                old = rng.choice(paths)
                new_names += 1
                new = f"renamed/r_{new_names:04d}_{Path(old).name}"
                files[new] = files.pop(old)
                ops.append(f'R "{old}" "{new}"\n'.encode())
                subject = f"rename {old} ({i})"
                paths = sorted(files)
            if i % 131 == 0:  # a delete and a new file
                gone = rng.choice(paths)
                del files[gone]
                ops.append(f"D {gone}\n".encode())
                new_names += 1
                path = f"new/n_{new_names:04d}.py"
                files[path] = new_content(path, i)
                ops.append(f"M 100644 inline {path}\n".encode() + _data("".join(files[path]).encode()))
                paths = sorted(files)
            for path in rng.sample(paths, 3):
                lines = files[path]
                j = rng.randrange(len(lines))
                lines[j] = f"VALUE_{j} = {i}  # changed in commit {i}\n"
                if i % 7 == 0:
                    lines.append(f"EXTRA_{i} = {i}\n")
                ops.append(f"M 100644 inline {path}\n".encode() + _data("".join(lines).encode()))
        ts = EPOCH + i * 60
        out.append(b"commit refs/heads/main\nmark :%d\n" % i)
        out.append(f"author {IDENT} {ts} +0000\ncommitter {IDENT} {ts} +0000\n".encode())
        out.append(_data(f"{subject}\n".encode()))
        if i > 1:
            out.append(b"from :%d\n" % (i - 1))
        out.extend(ops)
        out.append(b"\n")
        if i % TAG_EVERY == 0:
            name = f"v0.{i // TAG_EVERY}.0"
            tags.append(name)
            out.append(f"tag {name}\nfrom :{i}\ntagger {IDENT} {ts} +0000\n".encode())
            out.append(_data(f"release {name}\n".encode()))
    out.append(b"done\n")
    return b"".join(out), tags


def build_repo(path: Path, n_commits: int, n_files: int, gc: bool) -> tuple[list[str], dict[str, float]]:
    times: dict[str, float] = {}
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    t = time.perf_counter()
    stream, tags = fast_import_stream(n_commits, n_files)
    times["generate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    proc = subprocess.run(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=path,
        env=GIT_ENV,
        input=stream,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git fast-import failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    times["fast_import_s"] = time.perf_counter() - t
    t = time.perf_counter()
    git(path, "reset", "-q", "--hard", "main")
    times["checkout_s"] = time.perf_counter() - t
    if gc:
        t = time.perf_counter()
        git(path, "gc", "-q")
        times["gc_s"] = time.perf_counter() - t
    times["stream_mb"] = len(stream) / 1e6
    return tags, times


def time_calls(fn, runs: int) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return samples


async def mcp_path(repo: Path, runs: int) -> tuple[list[float], dict]:
    from mcp import Client

    from forge_mcp.server.app import build_server
    from forge_mcp.server.services import Forge

    samples: list[float] = []
    async with Client(build_server(Forge([repo]), watch=False)) as client:
        result = None
        for n in range(runs + 1):
            with anyio.fail_after(30):
                t = time.perf_counter()
                result = await client.call_tool("monitor_repo", {})
                if n:  # the first call is the warm-up
                    samples.append(time.perf_counter() - t)
            if result.is_error:
                raise RuntimeError(f"monitor_repo failed: {result.content}")
        structured = result.structured_content or {}
    return samples, structured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--target-ms", type=float, default=200.0, help="p50 target per case (default 200)")
    parser.add_argument("--gc", action="store_true", help="git gc the generated repository before timing")
    args = parser.parse_args()
    if args.commits < 600:
        parser.error("--commits must be at least 600 (case c needs a tag 500 commits back)")

    from forge_mcp.core.workspace import Workspace
    from forge_mcp.monitor.changes import monitor

    with tempfile.TemporaryDirectory(prefix="forge-bench-monitor-") as tmp:
        repo = Path(tmp) / "big-repo"
        tags, build = build_repo(repo, args.commits, args.files, args.gc)
        n_commits = int(git(repo, "rev-list", "--count", "HEAD"))
        n_files = len(git(repo, "ls-files", "-z").split("\0")) - 1
        print(
            f"repository: {n_commits} commits, {n_files} files, {len(tags)} tags; "
            f"stream {build['stream_mb']:.1f} MB generated in {build['generate_s']:.1f} s, "
            f"fast-import {build['fast_import_s']:.1f} s, checkout {build['checkout_s']:.1f} s"
            + (f", gc {build['gc_s']:.1f} s" if "gc_s" in build else "")
        )

        # The tag nearest to 500 commits before HEAD.
        tag_commit = {t: int(t.split(".")[1]) * TAG_EVERY for t in tags}
        since_tag = min(tags, key=lambda t: abs((n_commits - tag_commit[t]) - 500))
        trained = git(repo, "rev-parse", "HEAD~50").strip()

        ws = Workspace.open(repo)
        cases: dict[str, dict] = {}

        def run_case(key: str, label: str, **kw) -> None:
            report = monitor(ws, **kw)
            samples = time_calls(lambda: monitor(ws, **kw), args.runs)
            cases[key] = {
                "label": label,
                **summary_ms(samples),
                "commit_count": report.commit_count,
                "files_changed": report.files_changed,
                "new_tags": len(report.new_tags),
                "lines_added": report.lines_added,
                "base_source": report.base_source,
                "clean": report.working_tree.clean,
            }

        assert ws.last_trained_commit is None, "fresh state folder expected"
        run_case("b_never_trained", "b. never trained")
        ws.mark_trained(trained, time.time())
        run_case("a_trained_head_50", "a. trained at HEAD~50")
        run_case("c_since_tag", f"c. since={since_tag}", since=since_tag)

        mcp_samples, structured = anyio.run(mcp_path, repo, args.runs)
        mcp_stats = summary_ms(mcp_samples)
        if structured.get("commit_count") != cases["a_trained_head_50"]["commit_count"]:
            raise RuntimeError(f"MCP report disagrees: {structured.get('commit_count')} commits")

    order = ["a_trained_head_50", "b_never_trained", "c_since_tag"]
    print_table(
        f"monitor(ws), {args.runs} runs after 1 warm-up",
        ["case", "p50 ms", "p95 ms", "min ms", "max ms", "commits", "files", "tags"],
        [
            [
                cases[k]["label"],
                cases[k]["p50_ms"],
                cases[k]["p95_ms"],
                cases[k]["min_ms"],
                cases[k]["max_ms"],
                cases[k]["commit_count"],
                cases[k]["files_changed"],
                cases[k]["new_tags"],
            ]
            for k in order
        ]
        + [
            [
                "MCP call_tool monitor_repo (a)",
                mcp_stats["p50_ms"],
                mcp_stats["p95_ms"],
                mcp_stats["min_ms"],
                mcp_stats["max_ms"],
                structured.get("commit_count"),
                structured.get("files_changed"),
                len(structured.get("new_tags", [])),
            ]
        ],
    )
    ok = all(cases[k]["p50_ms"] <= args.target_ms for k in order)
    print(f"  target p50 <= {args.target_ms:.0f} ms for a, b and c: {'PASS' if ok else 'FAIL'}")
    emit_result(
        {
            "bench": "monitor",
            "commits": n_commits,
            "files": n_files,
            "tags": len(tags),
            "runs": args.runs,
            "gc": args.gc,
            "build": {k: round(v, 2) for k, v in build.items()},
            "since_tag": since_tag,
            "cases": cases,
            "mcp_call_tool": mcp_stats,
            "target_p50_ms": args.target_ms,
            "ok": ok,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
