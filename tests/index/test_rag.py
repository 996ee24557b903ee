"""The RAG index on real repositories, the real offline embedder and real ChromaDB."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forge_mcp.core.errors import IndexMismatchError, SearchError
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.rag import RagIndex


def _top(index: RagIndex, query: str, **kw: object) -> list[str]:
    return [f"{h.path}::{h.symbol}" for h in index.search(query, **kw)]


def test_index_and_search_modes(search_repo, minilm) -> None:
    index = RagIndex(Workspace.open(search_repo.path), embedder=minilm)
    report = index.sync()
    assert report.files_indexed == 4 and report.chunks_embedded == report.chunks > 5
    assert _top(index, "charge a credit card", k=1) == ["shop/payment.py::charge_credit_card"]
    assert _top(index, "total_price", mode="lexical", k=1) == ["shop/cart.py::Cart.total_price"]
    assert _top(index, "give the customer their money back", mode="dense", k=1) == ["shop/payment.py::refund_payment"]
    hit = index.search("add a product to the shopping cart", k=1)[0]
    assert (hit.path, hit.start_line, hit.end_line, hit.kind) == ("shop/cart.py", 4, 6, "method")
    assert "def add_item" in hit.text and hit.dense_rank and hit.lexical_rank


def test_filters(search_repo, minilm) -> None:
    index = RagIndex(Workspace.open(search_repo.path), embedder=minilm)
    index.sync()
    assert {h.language for h in index.search("render", language="typescript")} == {"typescript"}
    assert all(h.path.startswith("shop/") for h in index.search("payment", path_glob="shop/*"))
    assert {h.kind for h in index.search("payment", kind="section")} == {"section"}
    assert index.search("payment", language="cobol") == []


@pytest.mark.parametrize(
    ("query", "kwargs", "message"),
    [
        ("   ", {}, "empty"),
        ("x" * 5000, {}, "limit is 2000"),
        ("q", {"k": 0}, "between 1 and 100"),
        ("q", {"mode": "fuzzy"}, "hybrid, dense or lexical"),
        ("q", {"kind": "lambda"}, "kind must be one of"),
    ],
)
def test_bad_queries_are_clear_errors(search_repo, minilm, query: str, kwargs: dict, message: str) -> None:
    index = RagIndex(Workspace.open(search_repo.path), embedder=minilm)
    index.sync()
    with pytest.raises(SearchError, match=message):
        index.search(query, **kwargs)


def test_empty_index_says_how_to_build_it(search_repo, minilm) -> None:
    with pytest.raises(SearchError, match="index_repo"):
        RagIndex(Workspace.open(search_repo.path), embedder=minilm).search("anything")


def test_edits_and_deletes_are_synced_incrementally(search_repo, minilm) -> None:
    index = RagIndex(Workspace.open(search_repo.path), embedder=minilm)
    first = index.sync()
    assert index.sync().files_changed == 0  # nothing moved: nothing re-read
    search_repo.write(
        "shop/payment.py",
        "def charge_credit_card(card_number, amount):\n"
        '    """Charge a credit card through the gateway."""\n    return gateway.charge(card_number, amount)\n\n\n'
        'def issue_store_credit(customer, amount):\n    """Give the customer store credit as a voucher."""\n'
        "    return vouchers.create(customer, amount)\n",
    )
    report = index.sync(["shop/payment.py"])
    assert report.files_changed == 1 and report.chunks_embedded == 1  # the unchanged function kept its vector
    assert _top(index, "voucher store credit", k=1) == ["shop/payment.py::issue_store_credit"]
    assert "shop/payment.py::refund_payment" not in _top(index, "refund a captured payment", k=10)
    (search_repo.path / "web/render.ts").unlink()
    assert index.sync().files_removed == 1
    assert not any(p.startswith("web/") for p in _top(index, "render invoice", k=10))
    assert index.vectors.ids() == set(index.catalog.chunk_ids()) and len(index.vectors.ids()) < first.chunks + 2


def test_secrets_and_ignored_files_stay_out(search_repo, minilm) -> None:
    token = "ghp_" + "Zr8Qw" * 7 + "b"
    search_repo.write("shop/config.py", f'GITHUB_TOKEN = "{token}"\n')
    search_repo.write(".gitignore", "build/\n")
    search_repo.write("build/out.py", "def compiled_artifact():\n    pass\n")
    search_repo.write(".env", "SECRET=1\n")
    index = RagIndex(Workspace.open(search_repo.path), embedder=minilm)
    index.sync()
    rows = index.catalog.rows()
    assert not any(token in r["text"] for r in rows) and any("<REDACTED:" in r["text"] for r in rows)
    assert not {r["path"] for r in rows} & {"build/out.py", ".env"}


def test_embedder_mismatch_is_refused_then_rebuilt(search_repo, minilm) -> None:
    ws = Workspace.open(search_repo.path)
    RagIndex(ws, embedder=minilm).sync()

    class Other:
        name = "other-embedder"

        def embed(self, texts: list[str]) -> list[list[float]]:
            return [[float(len(t) % 7), 1.0, 0.5] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return self.embed([text])[0]

    with pytest.raises(IndexMismatchError, match="minilm-l6-v2"):
        RagIndex(ws, embedder=Other())
    rebuilt = RagIndex(ws, embedder=Other(), rebuild=True)
    assert rebuilt.sync().chunks_embedded > 0
    assert ws.store.get_meta("index_embedder") == "other-embedder"


def test_a_killed_indexer_is_repaired_by_a_full_sync(make_repo, minilm) -> None:
    repo = make_repo("big")
    repo.commit(
        "many",
        {
            f"pkg/mod{i}.py": "".join(
                f'def handler_{i}_{j}(request):\n    """Handle request kind {j} of module {i}."""\n    return {j}\n\n\n'
                for j in range(8)
            )
            for i in range(30)
        },
    )
    code = (
        "import sys\nfrom pathlib import Path\nfrom forge_mcp.core.workspace import Workspace\n"
        "from forge_mcp.index.rag import RagIndex\n"
        "index = RagIndex(Workspace.open(Path(sys.argv[1])))\n"
        "index.sync(progress=lambda d, t, m: print(m, flush=True))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    proc = subprocess.Popen([sys.executable, "-c", code, str(repo.path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:  # kill -9 once embedding has stored some vectors (a catalog commit comes at 128)
        if line.startswith("embedded 64/"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    index = RagIndex(Workspace.open(repo.path), embedder=minilm)
    stored, cataloged = index.vectors.ids(), set(index.catalog.chunk_ids())
    assert len(stored) >= 64 and cataloged <= stored  # vectors are written before the catalog
    report = index.sync()
    assert report.chunks_reused == len(stored - cataloged) and report.chunks_embedded == 240 - len(stored)
    assert report.orphans_removed == 0 and report.unreachable_left == 0
    assert index.vectors.ids() == set(index.catalog.chunk_ids()) and len(index.vectors.ids()) == report.chunks
    assert _top(index, "handle request kind 3 of module 17", k=1) == ["pkg/mod17.py::handler_17_3"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_chroma_server_mode(search_repo, minilm, tmp_path: Path) -> None:
    chroma = Path(sys.executable).with_name("chroma")
    port = _free_port()
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "chroma run did not start"
                time.sleep(0.1)
        ws = Workspace.open(search_repo.path, {"index": {"chroma_url": f"http://127.0.0.1:{port}"}})
        index = RagIndex(ws, embedder=minilm)
        index.sync()
        assert _top(index, "refund a captured payment", k=1) == ["shop/payment.py::refund_payment"]
        assert not (ws.state_dir / "chroma").exists()  # nothing embedded locally
        import chromadb

        remote = chromadb.HttpClient(host="127.0.0.1", port=port)
        assert remote.get_collection(index.vectors.name).count() == len(index.catalog.chunk_ids())
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_touched_but_unchanged_file_is_not_rechunked(search_repo, minilm) -> None:
    index = RagIndex(Workspace.open(search_repo.path), embedder=minilm)
    index.sync()
    target = search_repo.path / "shop/cart.py"
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    report = index.sync()
    assert report.files_changed == 0 and report.chunks_embedded == 0
    assert index.sync().files_changed == 0  # the new mtime was recorded


def test_searches_are_answered_while_indexing(make_repo, minilm) -> None:
    import threading

    repo = make_repo("busy")
    repo.commit("many", {f"m{i}.py": f"def worker_{i}(job):\n    return job.run({i})\n" for i in range(120)})
    index = RagIndex(Workspace.open(repo.path), embedder=minilm)
    repo_first = {f"m{i}.py" for i in range(5)}
    index.sync(sorted(repo_first))
    syncing = threading.Thread(target=lambda: index.sync())
    syncing.start()
    answered = 0
    try:
        while syncing.is_alive():
            assert index.search("worker run job", k=3)  # a search that raises fails the test here
            answered += 1
    finally:
        syncing.join()
    assert answered > 0
    assert len(index.catalog.files()) == 120
