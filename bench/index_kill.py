"""`forge-mcp index` killed with SIGKILL, the issue's scenario (issue 14), with the real MiniLM embedder.

  1. a generated 320-file repository (half varied modules, half templated handler modules whose chunks
     are near-identical, as generated or boilerplate code is), about 3,000 chunks;
  2. six runs killed during the first build, each at a seeded point found in its progress output (after
     its n-th stored batch of vectors, or right after a catalog commit);
  3. 40 files edited and one deleted, then two more killed runs;
  4. a complete run; then an unchanged run (what a full probe costs, and what a sample costs);
  5. a fresh process opens the store and queries every stored vector with its own embedding.

Reported: per killed run, chunks stored and chunks re-embedded (embedded again although already stored:
`stored by the run - ids it added`, ids read from Chroma's SQLite between runs); the complete run's
unreachable vectors found and repaired; unreachable after the sync (must be 0); the probe's cost.

    python bench/index_kill.py [--files 320] [--seed 14] [--keep]
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

import argparse
import json
import os
import random
import re
import selectors
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from _common import GIT_ENV, ROOT, emit_result, git, print_table

VERBS = [
    "parse",
    "render",
    "validate",
    "merge",
    "compute",
    "fetch",
    "store",
    "encode",
    "resolve",
    "schedule",
    "load",
    "dump",
    "filter",
    "sort",
    "retry",
    "cache",
]
NOUNS = [
    "invoice",
    "customer",
    "order",
    "payment",
    "token",
    "report",
    "session",
    "address",
    "ticket",
    "batch",
    "ledger",
    "refund",
    "coupon",
    "shipment",
    "profile",
    "quota",
]
RUN_BOUND_S = 600
PROBE = (
    "import json, sys, time\nfrom pathlib import Path\nfrom forge_mcp.index.integrity import find_unreachable\n"
    "from forge_mcp.index.vectors import VectorStore\nfrom forge_mcp.core.workspace import Workspace\n"
    "ws = Workspace.open(Path(sys.argv[1]))\n"
    "store = VectorStore(ws.state_dir / 'chroma', None, ws.name, ws.store.get_meta('index_embedder'))\n"
    "started = time.perf_counter()\nbad = find_unreachable(store, sorted(store.ids()))\n"
    "print(json.dumps({'vectors': store.count(), 'unreachable': len(bad), "
    "'seconds': round(time.perf_counter() - started, 3)}))\n"
)


def varied(i: int, rev: int) -> str:
    rng = random.Random(i * 1000 + rev)
    out = [f'"""Helpers for {NOUNS[i % 16]} handling (revision {rev})."""\n\nimport helpers\n\n']
    for j in range(9):
        verb, noun = rng.choice(VERBS), rng.choice(NOUNS)
        steps = "".join(
            f"    value = helpers.{rng.choice(VERBS)}(value, step={rng.randint(0, 99)})\n"
            for _ in range(rng.randint(1, 4))
        )
        out.append(
            f'\ndef {verb}_{noun}_{i}_{j}(value, options=None):\n    """{verb.title()} the {noun} {j}."""\n'
            f"{steps}    return value if options is None else options.apply(value, rev={rev})\n\n"
        )
    return "".join(out)


def templated(i: int, rev: int) -> str:
    return "".join(
        f'def handle_{i}_{j}(request, retries={j + rev}):\n    """Handle request kind {j} of module {i}."""\n'
        f"    return request.reply(kind={j}, module={i})\n\n\n"
        for j in range(10)
    )


def make_repo(path: Path, files: int) -> list[Path]:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    made = []
    for i in range(files):
        target = path / (f"pkg{i // 40:02d}/{NOUNS[i % 16]}_{i}.py" if i % 2 else f"handlers/h{i // 40:02d}/h_{i}.py")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(varied(i, 0) if i % 2 else templated(i, 0), encoding="utf-8")
        made.append(target)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "generated")
    return made


def stored_ids(repo: Path) -> set[str]:
    """Ids in Chroma's metadata segment, read-only from its SQLite (no Chroma process touches the store)."""
    db = repo / ".forge" / "chroma" / "chroma.sqlite3"
    if not db.exists():
        return set()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {r[0] for r in conn.execute("SELECT embedding_id FROM embeddings")}


def run(repo: Path, kill: tuple[str, int] | None) -> dict[str, object]:
    """One `forge-mcp -v index --json`; `kill` = (regex, n): SIGKILL after the n-th stderr line matching."""
    cmd = [sys.executable, "-m", "forge_mcp.cli.main", "-v", "index", "--repo", str(repo), "--json"]
    env = {k: v for k, v in GIT_ENV.items() if not k.startswith("FORGE_")} | {"PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None and proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline, pending, seen, last, reused = time.monotonic() + RUN_BOUND_S, b"", 0, 0, 0
    killed = False
    while time.monotonic() < deadline:
        if not selector.select(timeout=deadline - time.monotonic()):
            continue
        data = os.read(proc.stderr.fileno(), 65536)
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        for line in (raw.decode(errors="replace") for raw in lines):
            if m := re.search(r"embedded (\d+)/\d+ chunks$", line):
                last = int(m.group(1))
            if m := re.search(r"\((\d+) already stored by an earlier sync\)", line):
                reused = int(m.group(1))
            if kill and re.search(kill[0], line):
                seen += 1
                if seen == kill[1] and not killed:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = True
        if killed:
            break
    out = "" if killed else proc.stdout.read().decode()
    proc.wait(timeout=60)
    proc.stderr.close()
    proc.stdout.close()
    report = json.loads(out) if proc.returncode == 0 else {}
    return {
        "rc": proc.returncode,
        "stored": int(report.get("chunks_embedded", last)),
        "reused": reused,
        "seconds": round(time.perf_counter() - started, 1),
        "report": report,
    }


def scenario(work: Path, files: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    repo = work / "repo"
    made = make_repo(repo, files)
    runs: list[dict[str, object]] = []

    def step(phase: str, kill: tuple[str, int] | None) -> dict[str, object]:
        before = stored_ids(repo)
        result = run(repo, kill)
        added = len(stored_ids(repo) - before)
        result |= {
            "phase": phase,
            "kill_at": f"{kill[0]} #{kill[1]}" if kill else "-",
            "added": added,
            "re_embedded": max(0, int(result["stored"]) - added),
        }
        runs.append(result)
        print(
            f"  {phase}: rc {result['rc']}, stored {result['stored']}, reused {result['reused']}, "
            f"re-embedded {result['re_embedded']}, {result['seconds']} s",
            flush=True,
        )
        return result

    kills = [
        (r"committed \d+ files", rng.randint(1, 2))
        if rng.random() < 0.4
        else (r": embedded \d+/\d+ chunks$", rng.randint(1, 6))
        for _ in range(8)
    ]
    for n in range(6):
        step(f"build, killed {n + 1}", kills[n])
    for target in rng.sample(made, 40):
        i = int(target.stem.split("_")[-1])
        target.write_text(varied(i, 1) if i % 2 else templated(i, 1), encoding="utf-8")
    rng.choice([p for p in made if p.exists()]).unlink()
    for n in range(6, 8):
        step(f"after edits, killed {n - 5}", kills[n])
    complete = step("complete run", None)
    unchanged = step("unchanged run", None)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(repo)],
        capture_output=True,
        text=True,
        check=True,
        env=GIT_ENV | {"PYTHONPATH": str(ROOT)},
        timeout=RUN_BOUND_S,
    )
    fresh = json.loads(probe.stdout.strip().splitlines()[-1])
    return {"runs": runs, "complete": complete["report"], "unchanged": unchanged["report"], "fresh_process": fresh}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=320)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (repository and index)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forge-index-kill-"))
    try:
        out = scenario(work, args.files, args.seed)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    runs = out["runs"]
    killed = [r for r in runs if r["rc"] == -signal.SIGKILL]
    print_table(
        "runs",
        ["run", "kill at", "rc", "stored", "reused", "re-embedded", "s"],
        [[r["phase"], r["kill_at"], r["rc"], r["stored"], r["reused"], r["re_embedded"], r["seconds"]] for r in runs],
    )
    complete, unchanged, fresh = out["complete"], out["unchanged"], out["fresh_process"]
    summary = {
        "kills": len(killed),
        "chunks": complete.get("chunks"),
        "re_embedded_after_kills": [r["re_embedded"] for r in runs[1:] if r["phase"] != "unchanged run"],
        "reused_after_kills": [r["reused"] for r in runs[1:] if r["phase"] != "unchanged run"],
        "unreachable_repaired": complete.get("unreachable_repaired"),
        "unreachable_left": complete.get("unreachable_left"),
        "missing_repaired": complete.get("missing_repaired"),
        "orphans_removed": complete.get("orphans_removed"),
        "probe_full": {"vectors": complete.get("vectors_probed"), "seconds": complete.get("probe_seconds")},
        "probe_sample": {
            "vectors": unchanged.get("vectors_probed"),
            "seconds": unchanged.get("probe_seconds"),
            "unchanged_sync_s": unchanged.get("seconds"),
        },
        "unreachable_after_sync": fresh["unreachable"],
        "fresh_process_probe": fresh,
    }
    checks = {
        "all 8 runs meant to be killed were killed": len(killed) == 8,
        "nothing re-embedded after a kill": not any(summary["re_embedded_after_kills"]),
        "unreachable after sync: 0 (fresh process)": fresh["unreachable"] == 0,
    }
    for name, ok in checks.items():
        print(f"  {name}: {'PASS' if ok else 'MISS'}")
    emit_result(
        {
            "bench": "index_kill",
            **summary,
            "runs": [{k: v for k, v in r.items() if k != "report"} for r in runs],
            "checks": checks,
        }
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
