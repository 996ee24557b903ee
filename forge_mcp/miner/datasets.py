"""Build the fine-tuning datasets of a commit: completion, instruction, RAFT and text, split by recency.

Layout (one folder per task, each loadable by mlx-lm as a data folder):
    <state>/datasets/<dataset_id>/{completion,instruction,raft,text}/{train,valid,test}.jsonl
    <state>/datasets/<dataset_id>/manifest.json   counts, token estimates, commit, config, hashes
A dataset is a pure function of (commit, miner config): its id is derived from both, so asking again
for an unchanged repository returns the stored dataset at once. The folder appears atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from forge_mcp.core.config import MinerConfig
from forge_mcp.core.errors import NotFoundError, quoted
from forge_mcp.core.fsutil import atomic_write_json
from forge_mcp.core.kinds import Progress
from forge_mcp.core.workspace import Workspace
from forge_mcp.miner import examples as ex
from forge_mcp.miner.chunker import Chunk
from forge_mcp.miner.mine import DEFAULT_REF, fingerprint, mine, resolve_commit
from forge_mcp.miner.split import HeldOut, HeldOutCommit, assign_split, select_held_out

TASKS = ("completion", "instruction", "raft", "text")
SPLITS = ("train", "valid", "test")
CHARS_PER_TOKEN = 4  # a rough estimate for code; the manifest says so


class HeldOutReport(BaseModel):
    """Which commits form the test set, and why the walk back through history stopped where it did."""

    commits: list[HeldOutCommit] = Field(default_factory=list, description="Held-out commits, newest first")
    skipped_commits: int = Field(0, description="Commits walked past because they changed no code unit")
    test_units: int = Field(0, description="Units in the test split (every kind)")
    completion_units: int = Field(0, description="Completion-eligible units in the test split")
    reason: str = Field(
        "",
        description="enough (minimums reached), history (ran out of commits), bound "
        "(max_held_out_commits), or train_share (half the units kept for training)",
    )


class DatasetSummary(BaseModel):
    """What `chunk_data` built (or found already built) for a commit."""

    dataset_id: str
    path: str = Field(description="Folder holding one sub-folder per task with train/valid/test JSONL")
    commit: str
    reused: bool = Field(description="True when an identical dataset already existed")
    files: dict[str, int] = Field(description="seen, chunked, parsed (this run), reused (from the chunk cache)")
    skipped: dict[str, int] = Field(description="Skipped files by reason")
    skipped_examples: dict[str, list[str]]
    chunks_by_language: dict[str, int]
    chunks_by_kind: dict[str, int]
    secrets_redacted: dict[str, int] = Field(description="Secrets replaced in chunk text, by kind")
    secret_files: int = Field(description="Files excluded entirely as secrets (.env, keys, credentials)")
    duplicates_removed: int
    held_out_commits: int = Field(description="Code-changing commits whose units form the test set")
    held_out: HeldOutReport = Field(default_factory=HeldOutReport)  # older manifests lack it
    splits: dict[str, dict[str, int]] = Field(description="Examples per task and split")
    tokens_estimate: dict[str, int] = Field(description="Approximate tokens per task (chars/4)")
    generator: str = Field(description="templated, or teacher:<model> with how many examples it wrote")
    notes: list[str]


def dataset_id(commit: str, ws: Workspace) -> str:
    cfg = ws.config.miner.model_dump(mode="json", exclude={"processes"})  # how many processes chunk changes nothing
    key = json.dumps([commit, fingerprint(ws.config.miner), cfg, ex.FORMAT_VERSION], sort_keys=True)
    return "ds-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def load_summary(ws: Workspace, ds_id: str) -> DatasetSummary:
    manifest = ws.dataset_dir(ds_id) / "manifest.json"
    if not manifest.is_file():
        raise NotFoundError(f"no dataset with id {quoted(ds_id)}")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return DatasetSummary.model_validate(data["summary"] | {"reused": True})


def build_dataset(
    ws: Workspace,
    ref: str = DEFAULT_REF,
    force: bool = False,
    progress: Progress | None = None,
    neighbours: ex.Neighbours | None = None,
    teacher: Any = None,
) -> DatasetSummary:
    """Mine `ref` and write its datasets (or return the identical one already built)."""
    commit = resolve_commit(ws.repo_root, ref)
    ds_id = dataset_id(commit, ws)
    if not force:
        try:
            return load_summary(ws, ds_id)
        except NotFoundError:
            pass
    cfg = ws.config.miner
    mined = mine(ws, commit, _scaled(progress, 0, 80))
    units, duplicates = _dedupe(mined.chunks)
    held = select_held_out(
        ws.repo_root, commit, units, cfg.held_out_commits, cfg.min_test_units, cfg.max_held_out_commits
    )
    split_of = {c.id: assign_split(c, held.test_ids, cfg.valid_fraction, cfg.seed) for c in units}
    notes = _notes(held, cfg, split_of)
    if progress:
        progress(85, 100, "writing examples")
    rows, generator = _examples(units, split_of, ws, neighbours, teacher, notes)
    final = ws.dataset_dir(ds_id)
    stats = mined.stats
    summary = DatasetSummary(
        dataset_id=ds_id,
        path=str(final),
        commit=commit,
        reused=False,
        files={
            "seen": stats.files_seen,
            "chunked": stats.files_chunked,
            "parsed": stats.files_parsed,
            "reused": stats.files_reused,
        },
        skipped=stats.skipped,
        skipped_examples=stats.skipped_examples,
        chunks_by_language=stats.chunks_by_language,
        chunks_by_kind=stats.chunks_by_kind,
        secrets_redacted=stats.secrets_redacted,
        secret_files=stats.skipped.get("secret", 0),
        duplicates_removed=duplicates,
        held_out_commits=len(held.commits),
        held_out=HeldOutReport(
            commits=held.commits,
            skipped_commits=len(held.skipped),
            test_units=sum(s == "test" for s in split_of.values()),
            completion_units=held.completion_units,
            reason=held.reason,
        ),
        splits={t: {s: len(rows[t][s]) for s in SPLITS} for t in TASKS},
        tokens_estimate={
            t: sum(len(json.dumps(r)) for s in SPLITS for r in rows[t][s]) // CHARS_PER_TOKEN for t in TASKS
        },
        generator=generator,
        notes=notes,
    )
    _write(final, rows, summary, ws, units, split_of)
    ws.store.put_record("datasets", ds_id, "ready", summary.model_dump(), git_commit=commit)
    if progress:
        progress(100, 100, f"dataset {ds_id} ready")
    return summary


def _scaled(progress: Progress | None, lo: int, hi: int) -> Progress | None:
    if progress is None:
        return None
    return lambda done, total, msg: progress(lo + (hi - lo) * done // max(total, 1), 100, msg)


def _dedupe(chunks: list[Chunk]) -> tuple[list[Chunk], int]:
    """Identical units (same code modulo whitespace) are kept once: the first by path."""
    seen: set[str] = set()
    kept: list[Chunk] = []
    for chunk in chunks:
        key = hashlib.sha256(" ".join(chunk.text.split()).encode("utf-8", "surrogatepass")).hexdigest()
        if chunk.kind in ("module", "section") and len(chunk.text.split()) < 3:
            continue  # blank or trivial remainders carry nothing to learn
        if key in seen:
            continue
        seen.add(key)
        kept.append(chunk)
    return kept, len(chunks) - len(kept)


def _notes(held: HeldOut, cfg: MinerConfig, split_of: dict[str, str]) -> list[str]:
    notes = _held_out_notes(held, cfg)
    if not any(s == "test" for s in split_of.values()):
        notes.append("the test set is empty: no held-out commit touched a unit (validation needs one)")
    if not any(s == "train" for s in split_of.values()):
        notes.append("the training set is empty: every unit was touched by the held-out commits")
    return notes


def _held_out_notes(held: HeldOut, cfg: MinerConfig) -> list[str]:
    """Say when the test set fell short of the minimums, and which commits were walked past."""
    notes = []
    if held.skipped:
        shown = "; ".join(f"{c.sha[:7]} {c.subject[:60]}" for c in held.skipped[:3])
        more = f"; and {len(held.skipped) - 3} more" if len(held.skipped) > 3 else ""
        notes.append(
            f"skipped {len(held.skipped)} commit(s) that changed no code unit (dependency bumps, docs): {shown}{more}"
        )
    if not (cfg.held_out_commits or cfg.min_test_units):
        notes.append("held_out_commits and min_test_units are both 0: nothing is held out")
    if held.reason == "enough":
        return notes
    got = (
        f"held out {len(held.commits)} code-changing commit(s) with {held.completion_units} completion unit(s), "
        f"short of held_out_commits={cfg.held_out_commits} and min_test_units={cfg.min_test_units}"
    )
    why = {
        "history": "the history has no older commits (the root commit is never held out)",
        "bound": f"max_held_out_commits={max(cfg.max_held_out_commits, cfg.held_out_commits)} commits were looked at",
        "train_share": f"going further back would leave fewer than half of the {held.completion_total} "
        "completion units for training",
    }[held.reason]
    notes.append(f"{got}: {why}")
    return notes


def _examples(
    units: list[Chunk],
    split_of: dict[str, str],
    ws: Workspace,
    neighbours: ex.Neighbours | None,
    teacher: Any,
    notes: list[str],
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], str]:
    cfg = ws.config.miner
    repo = ws.name
    rng = random.Random(cfg.seed)
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {t: {s: [] for s in SPLITS} for t in TASKS}
    code = [c for c in units if c.kind not in ("section",)]
    # Distractors for train/valid come only from train/valid units: test code must never be seen.
    seen_pool = [c for c in code if split_of[c.id] != "test"]
    taught = 0
    use_teacher = teacher is not None and teacher.available()
    if teacher is not None and not use_teacher:
        notes.append(f"teacher model {quoted(teacher.model)} unreachable or not pulled: RAFT examples are templated")
    for chunk in units:
        split = split_of[chunk.id]
        rows["text"][split].append(ex.text_example(chunk))
        if chunk.kind == "section":
            continue
        completion = ex.completion_example(chunk)
        if completion:
            if split == "test":  # the judge scores per language and shows where each example came from
                completion |= {"language": chunk.language, "path": chunk.path, "symbol": chunk.qualname}
            rows["completion"][split].append(completion)
        rows["instruction"][split].extend(ex.instruction_examples(chunk, repo))
        if chunk.kind in ex.UNIT_KINDS and chunk.part == 1:
            qa = None
            if use_teacher and taught < cfg.teacher_max_examples:
                qa = teacher.write(chunk, repo)
                taught += qa is not None
            pool = code if split == "test" else seen_pool
            item = ex.raft_example(
                chunk,
                pool,
                cfg.raft_distractors,
                cfg.raft_oracle_fraction,
                rng,
                repo,
                neighbours,
                *(qa or (None, None)),
            )
            item.pop("_oracle_included")
            rows["raft"][split].append(item)
    generator = f"teacher:{teacher.model} ({taught} RAFT examples; the rest templated)" if taught else "templated"
    return rows, generator


def _write(
    final: Path,
    rows: dict[str, dict[str, list[dict[str, Any]]]],
    summary: DatasetSummary,
    ws: Workspace,
    units: list[Chunk],
    split_of: dict[str, str],
) -> None:
    """Write into a temp folder, then rename it into place: readers never see half a dataset."""
    tmp = final.parent / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    hashes: dict[str, str] = {}
    for task in TASKS:
        for split in SPLITS:
            path = tmp / task / f"{split}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not rows[task][split]:
                continue  # mlx-lm reads a missing split as empty, but fails on an empty file
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[task][split]).encode()
            path.write_bytes(data)
            hashes[f"{task}/{split}.jsonl"] = hashlib.sha256(data).hexdigest()
    atomic_write_json(
        tmp / "manifest.json",
        {
            "summary": summary.model_dump(),
            "created_at": time.time(),
            "file_hashes": hashes,
            "config": json.loads(ws.config.to_json()),
            "units": [
                {
                    "id": c.id,
                    "qualname": c.qualname,
                    "kind": c.kind,
                    "lines": [c.start_line, c.end_line],
                    "content_hash": c.content_hash,
                    "split": split_of[c.id],
                }
                for c in units
            ],
        },
    )
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
