"""What the index reads: the working tree (tracked and untracked-but-not-ignored files), so an edit is
searchable before it is committed. The same skip rules, chunker and secret redaction as the Miner."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forge_mcp.config import MinerConfig
from forge_mcp.errors import RepoError
from forge_mcp.miner.blob import chunk_blob
from forge_mcp.miner.chunker import Chunk
from forge_mcp.miner.files import skip_reason_by_content, skip_reason_by_path


@dataclass(frozen=True)
class WorkFile:
    path: str
    size: int
    mtime_ns: int


def list_worktree(root: Path, state_dir: Path, cfg: MinerConfig, only: Sequence[str] | None = None
                  ) -> dict[str, WorkFile]:
    """Eligible files by repository path, with their size and mtime (no content read); `only` limits the
    listing to those paths (a watcher batch), so a one-file sync does not stat the whole tree."""
    cmd = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    if only is not None:
        if not only:
            return {}
        cmd += ["--", *(f":(literal){p}" for p in only)]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RepoError(f"cannot list files in {root}: {proc.stderr.decode(errors='replace').strip()}")
    state_rel = state_dir.relative_to(root).as_posix() + "/" if state_dir.is_relative_to(root) else None
    files: dict[str, WorkFile] = {}
    for raw in proc.stdout.split(b"\0"):
        path = raw.decode("utf-8", "surrogateescape")
        if not path or (state_rel and path.startswith(state_rel)):
            continue
        try:
            st = os.stat(root / path, follow_symlinks=False)
        except OSError:
            continue  # tracked but deleted from the work tree
        if not os.path.isfile(root / path) or os.path.islink(root / path):
            continue
        if skip_reason_by_path(path, st.st_size, cfg.max_file_bytes, cfg.exclude):
            continue
        files[path] = WorkFile(path, st.st_size, st.st_mtime_ns)
    return files


def read_and_chunk(root: Path, path: str, cfg: MinerConfig, known_sha: str | None = None
                   ) -> tuple[str, list[Chunk] | None, str | None]:
    """(sha256 of the content, chunks, skip reason) for one working-tree file; chunks are None when the
    content still has `known_sha` (a touched but unchanged file is not re-chunked)."""
    data = (root / path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest == known_sha:
        return digest, None, None
    reason = skip_reason_by_content(data)
    if reason:
        return digest, [], reason
    chunks, _ = chunk_blob(path, data, cfg.chunk_budget)
    return digest, chunks, None
