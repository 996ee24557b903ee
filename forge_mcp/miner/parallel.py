"""Chunk many files across processes, so a first mine of a large repository uses every core.

Parsing is CPU-bound C code that holds Python's GIL, so threads do not help: files go in batches to worker
processes, which chunk and redact them and send back each file's cache entry (the same JSON the chunk
cache stores), so the parent only decodes what it would have encoded anyway. (Measured: the parent
chunking too while the workers are busy gains nothing, as its parses hold the GIL that feeds them.) Small
jobs stay in-process: starting workers costs a few hundred milliseconds.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import orjson

from forge_mcp.miner.blob import file_payload

MIN_PARALLEL_BYTES = 4_000_000  # below this a serial run beats paying for worker start-up
MAX_AUTO_WORKERS = 8
BATCH_BYTES = 500_000  # big enough to amortise pickling, small enough to balance the workers at the end

Item = tuple[str, bytes]  # (repository path, content)
Done = tuple[str, bytes]  # (repository path, the file's cache entry as JSON)


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def plan_workers(requested: int, total_bytes: int, files: int) -> int:
    """Worker processes to use: `requested` (0 = one per core, at most 8), or 1 (none: chunk in this process)
    when there is one core or the job is too small to gain from them."""
    workers = requested if requested > 0 else min(usable_cores(), MAX_AUTO_WORKERS)
    if workers <= 1 or total_bytes < MIN_PARALLEL_BYTES or files < 4 * workers:
        return 1
    return workers


def batches(items: Iterable[Item], limit: int = BATCH_BYTES) -> Iterator[list[Item]]:
    batch: list[Item] = []
    size = 0
    for item in items:
        batch.append(item)
        size += len(item[1])
        if size >= limit:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def chunk_batch(batch: list[Item], budget: int) -> list[Done]:
    """What a worker does: each file's cache entry, encoded."""
    return [(path, orjson.dumps(file_payload(path, data, budget)[0])) for path, data in batch]


def _stdout_to_stderr() -> None:
    """Worker start-up: under `serve`, the inherited stdout is the MCP protocol channel; nothing may reach it."""
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def _context() -> multiprocessing.context.BaseContext:
    # Never fork: the server holds threads (watcher, asyncio) and a forked copy of their locks can hang.
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # Workers fork from a server that imported only the chunker, not the caller's __main__ (the CLI).
        ctx.set_forkserver_preload(["forge_mcp.miner.blob"])
        return ctx
    return multiprocessing.get_context("spawn")


def chunk_in_processes(
    items: Iterable[Item], budget: int, workers: int, on_done: Callable[[int, str], None] | None = None
) -> Iterator[Done]:
    """Each file's (path, cache entry JSON), chunked by `workers` processes, in completion order;
    `on_done(n, last path)` after each batch of n files.

    A worker that dies (a crash in native code) breaks the pool: every batch not done yet is chunked in this
    process instead, so a run never ends with files silently missing.
    """
    pending: dict[Future[list[Done]], list[Item]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_stdout_to_stderr) as pool:
        for batch in batches(items, BATCH_BYTES):
            pending[pool.submit(chunk_batch, batch, budget)] = batch
        for future in as_completed(pending):
            batch = pending.pop(future)
            try:
                done = future.result()
            except BrokenProcessPool:
                done = chunk_batch(batch, budget)
            yield from done
            if on_done is not None:
                on_done(len(batch), batch[-1][0])
