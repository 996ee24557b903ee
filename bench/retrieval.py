"""Retrieval quality of the RAG index: the docstring -> function protocol (see shared notes).

Each Python function or method with a docstring gives a query: the docstring's first sentence. All
docstrings are blanked out of the indexed code (line numbers kept), so the query's words are not simply
copied from the target. A hit is a returned chunk of the right file containing the target's `def` line.
Prints R@1/5/10 and MRR@10 for dense, lexical and hybrid, plus index time and query latency.

    python bench/retrieval.py --repo PATH [--repo PATH ...]      any git repositories (their .py files)
    python bench/retrieval.py --stdlib json email http           packages of this Python's standard library
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import emit_result, git, percentile, print_table

from forge_mcp.index.rag import RagIndex
from forge_mcp.workspace import Workspace

MODES = ("dense", "lexical", "hybrid")
TARGET_R10, TARGET_MRR = 0.85, 0.55


@dataclass(frozen=True)
class Query:
    text: str
    path: str
    def_line: int
    def_text: str  # the `def` line itself: a hit must contain it, not merely span its line number


def is_hit(q: Query, path: str, start: int, end: int, text: str) -> bool:
    return path == q.path and start <= q.def_line <= end and q.def_text in text


def first_sentence(doc: str) -> str:
    text = " ".join(doc.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def blank_docstrings(source: str) -> tuple[str, list[tuple[str, int]]]:
    """The source with every docstring replaced by "" (same line count), and (docstring, def line) pairs."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, int]] = []
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            expr = body[0]
            edits.append((expr.lineno, expr.col_offset, expr.end_lineno or expr.lineno, expr.end_col_offset or 0))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((body[0].value.value, node.lineno))
    for start, col, end, end_col in sorted(edits, reverse=True):
        head = lines[start - 1].encode()[:col].decode(errors="ignore")
        tail = lines[end - 1].encode()[end_col:].decode(errors="ignore")
        lines[start - 1:end] = [head + '""' + "\n" * (end - start) + tail]
    return "".join(lines), found


def build_corpus(sources: list[tuple[Path, str]], dest: Path) -> list[Query]:
    """Copy the .py files (docstrings blanked) into a new git repository; return the queries."""
    dest.mkdir(parents=True)
    git(dest, "init", "-q", "-b", "main")
    queries: list[Query] = []
    for root, prefix in sources:
        files = subprocess.run(["git", "ls-files", "*.py"], cwd=root, capture_output=True, text=True).stdout.split() \
            if (root / ".git").exists() else [str(p.relative_to(root)) for p in root.rglob("*.py")]
        for rel in sorted(files):
            try:
                text = (root / rel).read_text(encoding="utf-8")
                blanked, docs = blank_docstrings(text)
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            path = f"{prefix}{rel}"
            (dest / path).parent.mkdir(parents=True, exist_ok=True)
            (dest / path).write_text(blanked, encoding="utf-8")
            lines = blanked.splitlines()
            for doc, line in docs:
                sentence = first_sentence(doc)
                if len(sentence.split()) >= 3:
                    queries.append(Query(sentence, path, line, lines[line - 1].strip()))
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "corpus")
    return queries


def evaluate(index: RagIndex, queries: list[Query]) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for mode in MODES:
        ranks, latency = [], []
        for q in queries:
            started = time.perf_counter()
            hits = index.search(q.text[:2000], k=10, mode=mode)
            latency.append(time.perf_counter() - started)
            rank = next((i for i, h in enumerate(hits, start=1)
                         if is_hit(q, h.path, h.start_line, h.end_line, h.text)), None)
            ranks.append(rank)
        n = len(ranks)
        results[mode] = {
            "R@1": sum(1 for r in ranks if r and r <= 1) / n, "R@5": sum(1 for r in ranks if r and r <= 5) / n,
            "R@10": sum(1 for r in ranks if r) / n, "MRR": sum(1 / r for r in ranks if r) / n,
            "p50_ms": percentile(latency, 50) * 1000, "p95_ms": percentile(latency, 95) * 1000,
        }
    return results


def run(name: str, sources: list[tuple[Path, str]], work: Path) -> dict[str, object]:
    repo = work / name
    queries = build_corpus(sources, repo)
    ws = Workspace.open(repo, {"state_dir": str(work / f"{name}-state")})
    index = RagIndex(ws)
    started = time.perf_counter()
    report = index.sync()
    index_s = time.perf_counter() - started
    results = evaluate(index, queries)
    rows = [[m, f"{r['R@1']:.3f}", f"{r['R@5']:.3f}", f"{r['R@10']:.3f}", f"{r['MRR']:.3f}",
             f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}"] for m, r in results.items()]
    print_table(f"\n{name}: {report.files_indexed} files, {report.chunks} chunks, {len(queries)} queries; "
                f"index {index_s:.1f}s ({report.chunks / index_s:.1f} chunks/s)",
                ["mode", "R@1", "R@5", "R@10", "MRR", "p50 ms", "p95 ms"], rows)
    hybrid = results["hybrid"]
    ok = hybrid["R@10"] >= TARGET_R10 and hybrid["MRR"] >= TARGET_MRR
    print(f"  target hybrid R@10 >= {TARGET_R10} and MRR >= {TARGET_MRR}: {'PASS' if ok else 'MISS'}")
    return {"name": name, "files": report.files_indexed, "chunks": report.chunks, "queries": len(queries),
            "index_s": round(index_s, 2), "results": results, "target_met": ok}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", action="append", type=Path, default=[], help="a git repository (repeatable)")
    parser.add_argument("--stdlib", nargs="*", help="standard-library packages indexed together (e.g. json email http)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary corpora")
    args = parser.parse_args()
    if not args.repo and args.stdlib is None:
        parser.error("give --repo PATH and/or --stdlib PKG ...")
    work = Path(tempfile.mkdtemp(prefix="forge-retrieval-"))
    outcomes = []
    try:
        if args.stdlib:
            lib = Path(sysconfig.get_paths()["stdlib"])
            outcomes.append(run("stdlib-" + "-".join(args.stdlib), [(lib / p, f"{p}/") for p in args.stdlib], work))
        for repo in args.repo:
            outcomes.append(run(repo.resolve().name, [(repo.resolve(), "")], work))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    emit_result({"bench": "retrieval", "corpora": outcomes})
    return 0 if all(o["target_met"] for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
