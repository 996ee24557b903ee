"""`forge-mcp index` killed with SIGKILL again and again, with edits and a deletion in between: the complete
run that follows leaves an index in which every chunk is found by dense search with its own vector, with no
orphan, no chunk embedded twice, and the same content as a fresh rebuild.

The CLI runs as a real subprocess. Its embedder is `ollama:minilm`, served by a stand-in for Ollama's
/api/embed in this process that answers with the real MiniLM vectors: the subprocess then starts in about
two seconds instead of ten (no torch import, no model load), which keeps five runs well under a minute.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from forge_mcp.core.config import MinerConfig
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.embeddings import MiniLMEmbedder, OllamaEmbedder
from forge_mcp.index.integrity import find_unreachable
from forge_mcp.index.rag import RagIndex
from forge_mcp.miner.blob import chunk_blob

RUN_BOUND_S = 60


@pytest.fixture
def ollama_minilm(minilm: MiniLMEmbedder) -> Iterator[str]:
    """A local HTTP server speaking Ollama's /api/embed, answering with real MiniLM vectors."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            reply = json.dumps({"model": body["model"], "embeddings": minilm.embed(texts)}).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):  # the client was killed mid-request
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _module(i: int, rev: int) -> str:
    """Eight functions; a revision rewrites the even ones (the odd ones keep their chunk ids)."""
    return "".join(
        f"def handle_{i}_{j}(request, retries={j}):\n"
        f'    """Handle request kind {j} of module {i}{f" (revision {rev})" if j % 2 == 0 and rev else ""}."""\n'
        f"    return request.reply(kind={j}, module={i})\n\n\n"
        for j in range(8)
    )


def _run(repo: Path, env: dict[str, str], kill_after: str | None) -> tuple[int, list[str], str]:
    """Run `forge-mcp -v index --json`; with `kill_after` (a regex), SIGKILL it as soon as a stderr line
    matches. Returns (exit status, the `embedded x/y` lines seen, stdout)."""
    cmd = [sys.executable, "-m", "forge_mcp.cli.main", "-v", "index", "--repo", str(repo), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None and proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline, pending, embedded = time.monotonic() + RUN_BOUND_S, b"", []
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no match for {kill_after!r} within {RUN_BOUND_S}s"
        if not selector.select(timeout=left):
            continue
        data = os.read(proc.stderr.fileno(), 65536)
        if not data:
            break  # the run ended by itself
        *lines, pending = (pending + data).split(b"\n")
        text = [line.decode(errors="replace") for line in lines]
        embedded += [m.group(0) for line in text if (m := re.search(r"embedded \d+/\d+ chunks$", line))]
        if kill_after and any(re.search(kill_after, line) for line in text):
            os.kill(proc.pid, signal.SIGKILL)
            break
    out = "" if kill_after else proc.stdout.read().decode()
    proc.wait(timeout=RUN_BOUND_S)
    proc.stderr.close()
    proc.stdout.close()
    return proc.returncode, embedded, out


def _stored(lines: list[str]) -> int:
    """Chunks a run stored: the last `embedded x/y` line is logged after its batch is in Chroma."""
    return int(lines[-1].split()[1].split("/")[0]) if lines else 0


def _ids(texts: dict[str, str]) -> set[str]:
    """The chunk ids of these files, chunked the way the index does (no embedding)."""
    return {
        c.id for path, text in texts.items() for c in chunk_blob(path, text.encode(), MinerConfig().chunk_budget)[0]
    }


def test_kill_loop_then_a_complete_run(make_repo, ollama_minilm: str) -> None:
    repo = make_repo("killed")
    first = {f"pkg/mod{i:02d}.py": _module(i, 0) for i in range(44)}
    repo.commit("many", first)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    env |= {"FORGE_INDEX__EMBEDDER": "ollama:minilm", "FORGE_INDEX__OLLAMA_HOST": ollama_minilm}
    stored = kills = 0
    # Killed: with 64 vectors stored and no catalog; right after a catalog commit; after a batch, mid-group.
    for point in (r": embedded 64/", r"committed \d+ files", r": embedded \d+/\d+ chunks$"):
        code, lines, _ = _run(repo.path, env, point)
        assert code == -signal.SIGKILL
        kills, stored = kills + 1, stored + _stored(lines)
    edited = {f"pkg/mod{i:02d}.py": _module(i, 1) for i in range(0, 10, 2)}
    ever = _ids(first) | _ids(edited)  # every chunk id any run could have had to embed
    for path, text in edited.items():
        repo.write(path, text)
    (repo.path / "pkg/mod43.py").unlink()
    code, lines, _ = _run(repo.path, env, r": embedded \d+/\d+ chunks$")
    assert code == -signal.SIGKILL
    kills, stored = kills + 1, stored + _stored(lines)
    code, lines, out = _run(repo.path, env, None)
    assert code == 0, out
    report = json.loads(out)
    assert report["unreachable_left"] == 0 and report["files_indexed"] == 43
    stored += report["chunks_embedded"]
    assert kills == 4 and stored <= len(ever)  # no chunk was embedded (and stored) twice

    ws = Workspace.open(repo.path, {"index": {"embedder": "ollama:minilm", "ollama_host": ollama_minilm}})
    index = RagIndex(ws, embedder=OllamaEmbedder("minilm", ollama_minilm))
    catalog = set(index.catalog.chunk_ids())
    assert index.vectors.ids() == catalog  # no orphan, nothing missing
    assert find_unreachable(index.vectors, sorted(catalog)) == []  # each found with its own vector
    files = index.catalog.files()
    rebuilt = RagIndex(ws, embedder=OllamaEmbedder("minilm", ollama_minilm), rebuild=True)
    again = rebuilt.sync()
    assert (
        (again.files_indexed, again.chunks) == (len(files), len(catalog)) == (report["files_indexed"], report["chunks"])
    )
    assert set(rebuilt.catalog.chunk_ids()) == catalog
