"""Dense reachability: every stored vector must come back from a query with its own embedding.

A vector that Chroma lists (`get`) but its HNSW graph never returns is invisible to dense search, and hybrid
search hides the loss behind BM25. ChromaDB 1.5.9 gets there in more than one way: tight clusters of
near-identical vectors (templated code) lose every incoming edge to the neighbour-pruning heuristic; many
deletes and upserts leave live records no query finds (chroma-core/chroma#7758); and with its default
`sync_threshold` the unsaved tail of writes is replayed in a different order at each open (vectors.py).
So a full sync probes and repairs: `probe_plan` decides how much to probe, `find_unreachable` probes,
`rewrite` writes the vector again under the same id, which re-links it into the graph: an upsert (hnswlib
updates the point's neighbour lists), or, on alternate rounds, a delete and a fresh add (a new point); each
alone can leave a few stuck for rounds on tight clusters where the mix does not (measured on 1.5.9).

Cost (bench/README.md, index-kill section): about 0.25 ms a vector in batched queries, so every vector after
a sync that wrote any, and a rotating window otherwise (an unchanged re-index stays cheap).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from forge_mcp.core.store import Store
from forge_mcp.index.vectors import VectorStore

log = logging.getLogger(__name__)
PROBE_DUE_KEY = "index_probe_due"  # a stamp set before a sync writes vectors; "0" once a full probe found all
PROBE_OFFSET_KEY = "index_probe_offset"  # where the next sample window of an unchanged full sync starts
NEAREST = 10  # a vector is reachable when its own embedding finds it among this many
CROWDED = 100  # second look for the misses: near-identical vectors may crowd a reachable one out of the top 10
BATCH = 256
SAMPLE = 256  # vectors probed by a full sync that wrote nothing since the last clean probe
REPAIR_ROUNDS = 6  # measured: 2 or 3 rounds on tight clusters of 2,400 vectors; the rest is margin

Reembed = Callable[[list[str]], dict[str, tuple[list[float], dict[str, Any]]]]


@dataclass(frozen=True)
class Probe:
    probed: int = 0
    repaired: int = 0
    left: int = 0
    seconds: float = 0.0


def mark_probe_due(store: Store) -> None:
    """Called before vectors are written: the next full sync probes every vector. A fresh stamp rather than a
    flag, so a probe that ran while another process wrote does not clear it."""
    store.set_meta(PROBE_DUE_KEY, str(time.time_ns()))


def probe_plan(ids: Sequence[str], due: bool, offset: int, sample: int = SAMPLE) -> tuple[list[str], int]:
    """(ids to probe, next offset): all of them when writes happened since the last clean probe, else a
    window of `sample` that rotates over the sorted ids, so repeated unchanged syncs cover the collection."""
    ordered = sorted(ids)
    if due or len(ordered) <= sample:
        return ordered, 0
    start = offset % len(ordered)
    window = (ordered + ordered)[start : start + sample]
    return window, (start + sample) % len(ordered)


def find_unreachable(store: VectorStore, ids: Sequence[str], batch: int = BATCH) -> list[str]:
    """The ids whose own stored embedding does not find them (or whose embedding Chroma cannot return)."""
    total = store.count()
    if total == 0 or not ids:
        return []
    misses: list[tuple[str, list[float] | None]] = []
    for start in range(0, len(ids), batch):
        part = ids[start : start + batch]
        stored = store.stored(part)
        known = [(i, stored[i][0]) for i in part if i in stored]
        misses += [(i, None) for i, vector in known if vector is None]
        probes = [(i, vector) for i, vector in known if vector is not None]
        found = store.nearest_ids([v for _, v in probes], min(NEAREST, total))
        misses += [(i, v) for (i, v), hits in zip(probes, found, strict=False) if i not in hits]
    if not misses or total <= NEAREST:
        return [i for i, _ in misses]
    again = [(i, v) for i, v in misses if v is not None]
    wide = store.nearest_ids([v for _, v in again], min(CROWDED, total)) if again else []
    still = {i for (i, _), hits in zip(again, wide, strict=False) if i in hits}
    return [i for i, _ in misses if i not in still]


def rewrite(store: VectorStore, ids: list[str], reembed: Reembed, readd: bool = False) -> None:
    """Write each id's stored embedding again (re-embedded from the catalog where Chroma cannot return it):
    upserted, or with `readd` deleted and added anew."""
    stored = store.stored(ids)
    vectors = {i: (v, m) for i, (v, m) in stored.items() if v is not None}
    lost = [i for i in ids if i not in vectors]
    vectors.update(reembed(lost) if lost else {})
    order = [i for i in ids if i in vectors]
    store.rewrite(order, [vectors[i][0] for i in order], [vectors[i][1] for i in order], readd=readd)


def check_reachability(store: Store, vectors: VectorStore, ids: list[str], reembed: Reembed) -> Probe:
    """Probe `ids` (all after a write, else a rotating sample, and all as soon as a sample finds one) and
    rewrite the unreachable ones until the whole probed set is found; the probe is marked done only when
    nothing is left and nobody wrote since it began."""
    started = time.perf_counter()
    stamp = store.get_meta(PROBE_DUE_KEY)
    probed, offset = probe_plan(ids, stamp != "0", int(store.get_meta(PROBE_OFFSET_KEY) or 0))
    bad = find_unreachable(vectors, probed)
    if bad and len(probed) < len(ids):  # a sample found one: the graph is suspect, look at everything
        probed = sorted(ids)
        bad = find_unreachable(vectors, probed)
    fixed: set[str] = set()
    if bad:
        log.warning(
            "%d of %d stored vectors are unreachable by dense search; writing them again", len(bad), len(probed)
        )
        mark_probe_due(store)  # killed while repairing: the next full sync probes everything again
        stamp = store.get_meta(PROBE_DUE_KEY)
    for round_number in range(1, REPAIR_ROUNDS + 1):
        if not bad:
            break
        rewrite(vectors, bad, reembed, readd=round_number % 2 == 0)
        fixed.update(bad)
        bad = find_unreachable(vectors, probed)  # all again: re-linking one point can unlink another
        log.info("reachability repair round %d: %d still unreachable", round_number, len(bad))
    if not bad and store.get_meta(PROBE_DUE_KEY) == stamp:
        store.set_meta(PROBE_DUE_KEY, "0")
    store.set_meta(PROBE_OFFSET_KEY, str(offset))
    return Probe(len(probed), len(fixed - set(bad)), len(bad), round(time.perf_counter() - started, 3))
