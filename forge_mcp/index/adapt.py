"""Adapting the embedder to the repository: pairs mined from its own code (index/pairs.py), contrastive
fine-tuning in a worker process (index/adapt_worker.py), then the index re-embedded with the result.

The adapted model lives in `<state>/embedders/<base>+<digest>/` beside `adapt.json` (its resolved settings,
the pairs' digest and the worker's figures); the same pairs and settings reuse it. The index records which
embedder made its vectors; a switch embeds everything into a new collection while searches keep using the
old one, then swaps. A killed worker leaves no model, so the stock embedder keeps serving.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from forge_mcp.core.errors import AdaptError
from forge_mcp.core.fsutil import atomic_write_json
from forge_mcp.core.kinds import Progress
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.aliases import document_text
from forge_mcp.index.embeddings import ADAPTED_SEP, MINILM, adapted_embedder, is_adapted, minilm_path
from forge_mcp.index.pairs import Pair, pairs_digest, pairs_from_chunks, with_hard_negatives
from forge_mcp.index.rag import RagIndex
from forge_mcp.index.records import AdaptPlan, AdaptReport, SyncReport
from forge_mcp.index.sources import list_worktree, read_and_chunk

MIN_PAIRS = 16
# Measured on 2 cores (bench/README.md, adaptation): seconds per training triplet (query, document, hard
# negative; forward and backward) by sequence length. Attention makes 256 tokens about 3x dearer than 128.
SECONDS_PER_TRIPLET = {64: 0.08, 128: 0.16, 256: 0.55}
# 128 tokens per text: measured better than 256 on the stdlib set (hybrid R@10 .778 vs .773, MRR .574 vs .555)
# at a third of the time; the index still embeds up to 256.
DEFAULT_SEQ = 128
RECORD = "adapt.json"


def _per_triplet(seq: int, cores: int) -> float:
    known = sorted(SECONDS_PER_TRIPLET)
    base = next((SECONDS_PER_TRIPLET[k] for k in known if k >= seq), SECONDS_PER_TRIPLET[known[-1]])
    return base * 2 / max(2, cores)


def plan_adaptation(pairs: int, doc_tokens: list[int], budget_minutes: float, cfg: Any, cores: int) -> AdaptPlan:
    """Pairs, epochs and sequence length that fit the time budget on this machine: 2 epochs at 128 tokens
    (or `adapt_max_seq_length`; shorter when every document is), then 1 epoch, then fewer pairs."""
    reasons: list[str] = []
    budget = budget_minutes * 60
    lengths = sorted(doc_tokens) or [DEFAULT_SEQ]
    seq = cfg.adapt_max_seq_length or (64 if lengths[-1] <= 64 else DEFAULT_SEQ)
    epochs = cfg.adapt_epochs or 2
    used = min(pairs, cfg.adapt_max_pairs or pairs)

    def cost() -> float:
        return used * epochs * _per_triplet(seq, cores)

    if cfg.adapt_epochs is None and epochs > 1 and cost() > budget:
        epochs = 1
        reasons.append("1 epoch: 2 would not fit the budget")
    if cost() > budget:
        used = max(MIN_PAIRS, int(budget / (epochs * _per_triplet(seq, cores))))
        reasons.append(f"{used} of {pairs} pairs (sampled): more would not fit the budget")
    used = min(used, pairs)
    return AdaptPlan(
        pairs=used,
        epochs=epochs,
        max_seq_length=seq,
        batch_size=cfg.adapt_batch_size,
        learning_rate=cfg.adapt_learning_rate,
        budget_seconds=budget,
        expected_seconds=round(cost(), 1),
        reasons=reasons,
    )


def repository_pairs(ws: Workspace, signatures: bool) -> list[Pair]:
    """Pairs from the working tree, read with the index's own confinement and skip rules."""
    files = list_worktree(ws.repo_root, ws.state_dir, ws.config.miner)
    chunks = []
    for path in sorted(files):
        try:
            _, found, _ = read_and_chunk(ws.repo_root, path, ws.config.miner)
        except OSError:
            continue  # gone or unreadable since it was listed
        chunks.extend(found or [])
    return pairs_from_chunks(chunks, signatures=signatures)


def adapt_index(index: RagIndex, pairs: list[Pair] | None = None, progress: Progress | None = None) -> AdaptReport:
    """Adapt the index's embedder to the repository and re-embed the index with it. `pairs` defaults to the
    repository's own (the benchmark passes a held-out-safe subset)."""
    ws, cfg, started = index.ws, index.ws.config.index, time.monotonic()
    base = _base_name(index.embedder.name)
    if base != MINILM:
        raise AdaptError(
            f"adaptation fine-tunes the offline MiniLM embedder; the index uses {base!r}: set "
            '[index] embedder = "minilm" to adapt'
        )
    pairs = repository_pairs(ws, cfg.adapt_signature_queries) if pairs is None else pairs
    if len(pairs) < MIN_PAIRS:
        raise AdaptError(
            f"only {len(pairs)} training pairs (documented functions, commented units, doc sections); "
            f"adaptation needs at least {MIN_PAIRS}: document more code, or leave [index] adapt off"
        )
    plan = plan_adaptation(len(pairs), _token_counts(pairs), cfg.adapt_budget_minutes, cfg, os.cpu_count() or 1)
    chosen = random.Random(cfg.adapt_seed).sample(pairs, plan.pairs) if plan.pairs < len(pairs) else list(pairs)
    settings = plan.model_dump(exclude={"expected_seconds", "reasons"}) | {"seed": cfg.adapt_seed}
    # The digest leaves the hard negatives out: they depend on the embedder serving now (stock or adapted).
    digest = hashlib.sha256((pairs_digest(chosen) + json.dumps(settings, sort_keys=True)).encode()).hexdigest()
    name = _close_enough(index, settings, chosen, cfg.adapt_min_change) or f"{MINILM}{ADAPTED_SEP}{digest[:12]}"
    folder = ws.embedders_dir / name
    reused = (folder / "model" / "config.json").is_file() and (folder / RECORD).is_file()
    if reused:
        figures = json.loads((folder / RECORD).read_text(encoding="utf-8"))["train"]
    else:
        if progress:
            progress(0, 1, f"mining hard negatives for {len(chosen)} pairs")
        chosen = with_hard_negatives(chosen, _dense_search(index), _documents(index))
        figures = _train(folder, chosen, settings, progress)
        atomic_write_json(
            folder / RECORD,
            {
                "embedder": name,
                "base": MINILM,
                "settings": settings,
                "plan": plan.model_dump(),
                "pairs": len(chosen),
                "pairs_digest": pairs_digest(chosen),
                "train": figures,
                "pair_keys": sorted(_pair_keys(chosen)),
                "hard_negatives": sum(p.negative is not None for p in chosen),
                "config": json.loads(ws.config.to_json())["index"],
            },
        )
    previous = index.embedder.name
    embedder = adapted_embedder(ws, name)
    assert embedder is not None
    reembedded = index.switch_embedder(embedder, progress)
    _prune(ws, keep={name})
    by_source: dict[str, int] = {}
    for pair in chosen:
        by_source[pair.source] = by_source.get(pair.source, 0) + 1
    record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    return AdaptReport(
        embedder=name,
        previous=previous,
        model_path=str(folder / "model"),
        reused=reused,
        pairs=len(chosen),
        pairs_by_source=by_source,
        hard_negatives=record.get("hard_negatives", 0),
        plan=plan,
        train=figures,
        reembedded=reembedded,
        seconds=round(time.monotonic() - started, 1),
    )


def _pair_keys(pairs: list[Pair]) -> set[str]:
    return {
        hashlib.sha256(f"{p.path}\0{p.symbol}\0{p.query}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
        for p in pairs
    }


def _close_enough(index: RagIndex, settings: dict[str, Any], pairs: list[Pair], min_change: float) -> str | None:
    """The adapted model serving now, when it was trained with these settings on pairs of which less than
    `min_change` have changed since: a few edited docstrings do not call for minutes of training again."""
    name = index.embedder.name
    record_path = index.ws.embedders_dir / name / RECORD
    if not is_adapted(name) or not record_path.is_file():
        return None
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record.get("settings") != settings or not record.get("pair_keys"):
        return None
    before, now = set(record["pair_keys"]), _pair_keys(pairs)
    changed = len(before ^ now) / max(len(before | now), 1)
    return name if changed < min_change else None


def _base_name(name: str) -> str:
    return name.split(ADAPTED_SEP, 1)[0]


def _token_counts(pairs: list[Pair]) -> list[int]:
    """Document lengths in MiniLM word pieces, estimated (about 1.3 per whitespace word of code)."""
    return [int(len(p.document.split()) * 1.3) + 2 for p in pairs]


def _dense_search(index: RagIndex) -> Callable[[str, int], list[tuple[str, str]]]:
    def search(query: str, n: int) -> list[tuple[str, str]]:
        return [(h.path, h.symbol) for h in index.search(query, k=n, mode="dense")]

    return search


def _documents(index: RagIndex) -> dict[tuple[str, str], str]:

    return {(r["path"], r["symbol"]): document_text(r) for r in index.catalog.rows()}


def _train(folder: Path, pairs: list[Pair], settings: dict[str, Any], progress: Progress | None) -> dict[str, Any]:
    """Run the worker on a fresh job folder; the model appears in `folder/model` only when it succeeded."""
    job = folder.with_name(f".{folder.name}.{os.getpid()}.job")
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir(parents=True)
    (job / "job.json").write_text(json.dumps(settings | {"base_path": str(minilm_path())}), encoding="utf-8")
    (job / "pairs.jsonl").write_text("".join(json.dumps(asdict(p)) + "\n" for p in pairs), encoding="utf-8")
    log_path = job / "worker.log"  # stderr to a file: a full pipe would block the worker while we read stdout
    with log_path.open("w", encoding="utf-8") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "forge_mcp.index.adapt_worker", str(job)],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env=os.environ | {"TOKENIZERS_PARALLELISM": "false"},
        )
    result: dict[str, Any] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:  # a library's own print: not ours to parse
            continue
        if event.get("event") == "step" and progress:
            progress(
                event["step"],
                event["steps"],
                f"adapting the embedder: step {event['step']}/{event['steps']}, loss {event['loss']}",
            )
        elif event.get("event") == "done":
            result = {k: v for k, v in event.items() if k != "event"}
    code = proc.wait()
    stderr = log_path.read_text(encoding="utf-8", errors="replace")
    if code != 0 or not (job / "model" / "config.json").is_file():
        shutil.rmtree(job, ignore_errors=True)
        raise AdaptError(f"the adaptation worker failed (exit {proc.returncode}): {stderr.strip()[-800:]}")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (job / "model").rename(folder / "model")
    shutil.rmtree(job, ignore_errors=True)
    return result


def _prune(ws: Workspace, keep: set[str]) -> None:
    """Adapted models other than the one in use, and job folders of dead workers, are deleted."""
    root = ws.embedders_dir
    for entry in root.iterdir() if root.is_dir() else []:
        if entry.name not in keep and (not entry.name.startswith(".") or not _alive(entry.name)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(job_name: str) -> bool:
    try:
        pid = int(job_name.rsplit(".", 2)[-2])
        os.kill(pid, 0)
        return True
    except PermissionError:
        return True  # someone else's process: leave its folder alone
    except (ValueError, IndexError, ProcessLookupError):
        return False


def sync_and_adapt(index: RagIndex, adapt: bool | None, progress: Progress | None = None) -> SyncReport:
    """What `index_repo`, `forge-mcp index` and the cycle run: a full sync, then adaptation when asked (the
    argument, else `[index] adapt`), reported together."""
    report = index.sync(progress=progress)
    if not (index.ws.config.index.adapt if adapt is None else adapt):
        return report
    result = adapt_index(index, progress=progress)
    return report.model_copy(update={"adaptation": result, "embedder": result.embedder})
