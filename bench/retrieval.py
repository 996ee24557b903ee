"""Retrieval quality of the RAG index: the docstring -> function protocol (see shared notes).

Each Python function or method with a docstring gives a query: the docstring's first sentence. All
docstrings are blanked out of the indexed code (line numbers kept), so the query's words are not simply
copied from the target. A hit is a returned chunk of the right file containing the target's `def` line.
Prints R@1/5/10 and MRR@10 for dense, lexical and hybrid, plus index time and query latency.

    python bench/retrieval.py --repo PATH [--repo PATH ...]      any git repositories (their .py files)
    python bench/retrieval.py --stdlib json email http           packages of this Python's standard library
    python bench/retrieval.py ... --adapt [--signatures]         stock vs adapted embedder, held-out units only

With --adapt, the documented functions are split by a seeded hash of (path, def line) into an adaptation
half and an evaluation half. Training pairs come from the original sources (docstrings intact) through the
product's own miner (index/pairs.py), minus every chunk that spans an evaluation function, so no evaluation
docstring or name is ever trained on; the index still holds the blanked copy. Stock and adapted are measured
on the evaluation queries in the same run, with adaptation, re-embedding and query times.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
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

from forge_mcp.core.workspace import Workspace
from forge_mcp.index.pairs import Pair, pairs_from_chunks
from forge_mcp.index.rag import RagIndex
from forge_mcp.index.records import SyncReport
from forge_mcp.miner.blob import chunk_blob

MODES = ("dense", "lexical", "hybrid")
TARGET_R10, TARGET_MRR = 0.85, 0.55
TARGET_ADAPTED_R10, TARGET_ADAPTED_MRR = 0.85, 0.60


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
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            expr = body[0]
            edits.append((expr.lineno, expr.col_offset, expr.end_lineno or expr.lineno, expr.end_col_offset or 0))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((body[0].value.value, node.lineno))
    for start, col, end, end_col in sorted(edits, reverse=True):
        head = lines[start - 1].encode()[:col].decode(errors="ignore")
        tail = lines[end - 1].encode()[end_col:].decode(errors="ignore")
        lines[start - 1 : end] = [head + '""' + "\n" * (end - start) + tail]
    return "".join(lines), found


def py_files(root: Path) -> list[str]:
    """The .py files of a source: git's tracked files, or every one under a plain folder."""
    files = (
        subprocess.run(["git", "ls-files", "*.py"], cwd=root, capture_output=True, text=True).stdout.split()
        if (root / ".git").exists()
        else [str(p.relative_to(root)) for p in root.rglob("*.py")]
    )
    return sorted(files)


def build_corpus(sources: list[tuple[Path, str]], dest: Path) -> list[Query]:
    """Copy the .py files (docstrings blanked) into a new git repository; return the queries."""
    dest.mkdir(parents=True)
    git(dest, "init", "-q", "-b", "main")
    queries: list[Query] = []
    for root, prefix in sources:
        for rel in py_files(root):
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
            rank = next(
                (i for i, h in enumerate(hits, start=1) if is_hit(q, h.path, h.start_line, h.end_line, h.text)), None
            )
            ranks.append(rank)
        n = len(ranks)
        results[mode] = {
            "R@1": sum(1 for r in ranks if r and r <= 1) / n,
            "R@5": sum(1 for r in ranks if r and r <= 5) / n,
            "R@10": sum(1 for r in ranks if r) / n,
            "MRR": sum(1 / r for r in ranks if r) / n,
            "p50_ms": percentile(latency, 50) * 1000,
            "p95_ms": percentile(latency, 95) * 1000,
        }
    return results


def held_out(q: Query, seed: int) -> bool:
    """The seeded half of the documented functions that is only ever a query, never trained on."""
    return hashlib.sha256(f"{seed}:{q.path}:{q.def_line}".encode()).digest()[0] % 2 == 0


def adaptation_pairs(sources: list[tuple[Path, str]], evaluation: list[Query], signatures: bool) -> list[Pair]:
    """Pairs from the original files (docstrings intact), leaving out every chunk that spans an evaluation
    function's def line (a class chunk that holds one included)."""
    blocked: dict[str, list[int]] = {}
    for q in evaluation:
        blocked.setdefault(q.path, []).append(q.def_line)
    chunks = []
    for root, prefix in sources:
        for rel in py_files(root):
            path = f"{prefix}{rel}"
            try:
                found, _ = chunk_blob(path, (root / rel).read_bytes(), 2000)
            except (OSError, ValueError):
                continue
            chunks += [
                c for c in found if not any(c.start_line <= line <= c.end_line for line in blocked.get(path, []))
            ]
    return pairs_from_chunks(chunks, signatures=signatures)


def build_index(name: str, repo: Path, work: Path) -> tuple[RagIndex, SyncReport, float]:
    """The corpus indexed from scratch with the stock embedder, and the seconds it took."""
    index = RagIndex(Workspace.open(repo, {"state_dir": str(work / f"{name}-state")}))
    started = time.perf_counter()
    report = index.sync()
    return index, report, time.perf_counter() - started


def run(
    name: str, sources: list[tuple[Path, str]], work: Path, adapt: bool = False, signatures: bool = False, seed: int = 0
) -> dict[str, object]:
    repo = work / name
    queries = build_corpus(sources, repo)
    if adapt:
        evaluation = [q for q in queries if held_out(q, seed)]
        return run_adapted(name, sources, repo, work, evaluation, signatures)
    index, report, index_s = build_index(name, repo, work)
    results = evaluate(index, queries)
    _table(
        f"\n{name}: {report.files_indexed} files, {report.chunks} chunks, {len(queries)} queries; "
        f"index {index_s:.1f}s ({report.chunks / index_s:.1f} chunks/s)",
        results,
    )
    hybrid = results["hybrid"]
    ok = hybrid["R@10"] >= TARGET_R10 and hybrid["MRR"] >= TARGET_MRR
    print(f"  target hybrid R@10 >= {TARGET_R10} and MRR >= {TARGET_MRR}: {'PASS' if ok else 'MISS'}")
    return {
        "name": name,
        "files": report.files_indexed,
        "chunks": report.chunks,
        "queries": len(queries),
        "index_s": round(index_s, 2),
        "results": results,
        "target_met": ok,
    }


def _table(title: str, results: dict[str, dict[str, float]]) -> None:
    rows = [
        [
            m,
            f"{r['R@1']:.3f}",
            f"{r['R@5']:.3f}",
            f"{r['R@10']:.3f}",
            f"{r['MRR']:.3f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
        ]
        for m, r in results.items()
    ]
    print_table(title, ["mode", "R@1", "R@5", "R@10", "MRR", "p50 ms", "p95 ms"], rows)


def run_adapted(
    name: str, sources: list[tuple[Path, str]], repo: Path, work: Path, evaluation: list[Query], signatures: bool
) -> dict[str, object]:
    from forge_mcp.index.adapt import adapt_index

    index, report, index_s = build_index(name, repo, work)
    stock = evaluate(index, evaluation)
    _table(
        f"\n{name}: {report.chunks} chunks, {len(evaluation)} held-out queries; stock embedder (index {index_s:.1f}s)",
        stock,
    )
    pairs = adaptation_pairs(sources, evaluation, signatures)
    adapted_report = adapt_index(index, pairs=pairs)
    adapted = evaluate(index, evaluation)
    train_s = adapted_report.train.get("train_seconds", 0.0)
    _table(
        f"{name}: adapted ({adapted_report.pairs} pairs, {adapted_report.hard_negatives} hard negatives, "
        f"{adapted_report.plan.epochs} epoch(s) at {adapted_report.plan.max_seq_length} tokens; training "
        f"{train_s:.0f}s, adaptation {adapted_report.seconds:.0f}s with re-embedding)",
        adapted,
    )
    best = adapted["dense"] if adapted["dense"]["MRR"] >= adapted["hybrid"]["MRR"] else adapted["hybrid"]
    ok = best["R@10"] >= TARGET_ADAPTED_R10 and best["MRR"] >= TARGET_ADAPTED_MRR and adapted_report.seconds < 300
    print(
        f"  target adapted R@10 >= {TARGET_ADAPTED_R10}, MRR >= {TARGET_ADAPTED_MRR}, adaptation < 300 s: "
        f"{'PASS' if ok else 'MISS'}"
    )
    return {
        "name": name,
        "chunks": report.chunks,
        "queries": len(evaluation),
        "index_s": round(index_s, 2),
        "stock": stock,
        "adapted": adapted,
        "adaptation": adapted_report.model_dump(),
        "target_met": ok,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", action="append", type=Path, default=[], help="a git repository (repeatable)")
    parser.add_argument("--stdlib", nargs="*", help="standard-library packages indexed together (e.g. json email http)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary corpora")
    parser.add_argument("--adapt", action="store_true", help="stock vs adapted embedder on held-out units")
    parser.add_argument("--signatures", action="store_true", help="with --adapt: also train on identifier-split names")
    parser.add_argument("--seed", type=int, default=0, help="with --adapt: the held-out split's seed")
    args = parser.parse_args()
    if not args.repo and args.stdlib is None:
        parser.error("give --repo PATH and/or --stdlib PKG ...")
    work = Path(tempfile.mkdtemp(prefix="forge-retrieval-"))
    outcomes = []
    try:
        if args.stdlib:
            lib = Path(sysconfig.get_paths()["stdlib"])
            outcomes.append(
                run(
                    "stdlib-" + "-".join(args.stdlib),
                    [(lib / p, f"{p}/") for p in args.stdlib],
                    work,
                    args.adapt,
                    args.signatures,
                    args.seed,
                )
            )
        for repo in args.repo:
            outcomes.append(
                run(repo.resolve().name, [(repo.resolve(), "")], work, args.adapt, args.signatures, args.seed)
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    emit_result({"bench": "retrieval", "corpora": outcomes})
    return 0 if all(o["target_met"] for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
