"""Dense reachability probe and repair, against real ChromaDB collections with really unreachable vectors.

Tight clusters of near-identical vectors (what templated code gives) leave some of them with no incoming
edge in Chroma's HNSW graph: a query with their own embedding never returns them, at n=10 or n=100. That is
the issue's symptom, made on purpose and fast; tests/index/test_kill.py covers the kill loop itself.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np

from forge_mcp.core.workspace import Workspace
from forge_mcp.index.integrity import (
    PROBE_DUE_KEY,
    PROBE_OFFSET_KEY,
    SAMPLE,
    check_reachability,
    find_unreachable,
    probe_plan,
)
from forge_mcp.index.rag import RagIndex
from forge_mcp.index.vectors import VectorStore

DIM = 384


def _clustered(clusters: int, size: int, seed: int) -> tuple[list[str], list[list[float]]]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, DIM))
    vectors = np.repeat(centers / np.linalg.norm(centers, axis=1, keepdims=True), size, axis=0)
    vectors += rng.normal(scale=0.002, size=vectors.shape)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [f"c{n}" for n in range(len(vectors))], vectors.tolist()


def test_unreachable_vectors_are_found_and_repaired_for_good(make_repo, tmp_path: Path) -> None:
    store = VectorStore(tmp_path / "chroma", None, "probe", "clustered")
    ids, vectors = _clustered(60, 40, seed=3)  # 10 to 160 unreachable in 20 tries
    for start in range(0, len(ids), 64):
        store.upsert(
            ids[start : start + 64], vectors[start : start + 64], [{"path": "x.py"}] * len(ids[start : start + 64])
        )
    bad = find_unreachable(store, ids)
    assert bad, "no unreachable vector: the clustered data should have produced some"
    matrix = np.array(vectors)
    for chunk_id in bad[:5]:  # truly stored, and their own nearest neighbour by brute force
        n = ids.index(chunk_id)
        assert int(np.argmax(matrix @ matrix[n])) == n

    meta = Workspace.open(make_repo("meta").path).store
    meta.set_meta(PROBE_DUE_KEY, "0")  # as after a clean probe: only a sample is due, which must escalate
    meta.set_meta(PROBE_OFFSET_KEY, str(sorted(ids).index(bad[0])))  # a window that holds one
    probe = check_reachability(meta, store, ids, reembed=lambda missing: {})
    assert probe.probed == len(ids) > SAMPLE and probe.repaired >= len(bad) and probe.left == 0
    assert find_unreachable(store, ids) == [] and meta.get_meta(PROBE_DUE_KEY) == "0"
    again = check_reachability(meta, store, ids, reembed=lambda missing: {})
    assert (again.probed, again.repaired) == (SAMPLE, 0)  # nothing written since: a sample only

    code = (
        "import sys; from pathlib import Path\nfrom forge_mcp.index.vectors import VectorStore\n"
        "from forge_mcp.index.integrity import find_unreachable\n"
        "s = VectorStore(Path(sys.argv[1]), None, 'probe', 'clustered')\n"
        "print(len(find_unreachable(s, sorted(s.ids()))))\n"
    )
    reopened = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "chroma")], capture_output=True, text=True, check=True, timeout=120
    )
    assert reopened.stdout.strip() == "0"  # the repair is saved: a new process sees the same graph


def test_probe_plan_rotates_a_sample_over_everything() -> None:
    ids = [f"i{n:04d}" for n in range(1000)]
    assert probe_plan(ids, due=True, offset=123) == (sorted(ids), 0)
    seen: set[str] = set()
    offset = 0
    for _ in range(4):
        window, offset = probe_plan(ids, due=False, offset=offset, sample=256)
        assert len(window) == 256
        seen.update(window)
    assert seen == set(ids)


class _ClusteredEmbedder:
    """Each module's chunks land in one tight cluster (templated code, exaggerated)."""

    name = "clustered-test"

    def embed(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            module = int(text.split("handle_")[1].split("_")[0]) // 5  # five files (40 chunks) a cluster
            center = np.random.default_rng(module).normal(size=DIM)
            noise = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)).normal(size=DIM)
            vector = center / np.linalg.norm(center) + 0.002 * noise
            out.append((vector / np.linalg.norm(vector)).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]


def test_a_full_sync_reports_and_repairs_unreachable_chunks(make_repo) -> None:
    repo = make_repo("templated")
    repo.commit(
        "many",
        {
            f"m{i:03d}.py": "".join(
                f"def handle_{i}_{j}(request):\n    return request.reply({j})\n\n\n" for j in range(8)
            )
            for i in range(300)
        },
    )
    index = RagIndex(Workspace.open(repo.path), embedder=_ClusteredEmbedder())
    first = index.sync()
    assert first.chunks == 2400 and first.vectors_probed == 2400
    assert first.unreachable_repaired > 0 and first.unreachable_left == 0
    assert find_unreachable(index.vectors, sorted(index.catalog.chunk_ids())) == []
    second = index.sync()
    assert second.chunks_embedded == 0 and second.vectors_probed == SAMPLE and second.unreachable_repaired == 0
