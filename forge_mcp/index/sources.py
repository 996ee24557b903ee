"""What the index reads: the working tree (tracked and untracked-but-not-ignored files), so an edit is
searchable before it is committed. The same skip rules, chunker and secret redaction as the Miner.

A repository is untrusted input: a tracked `sub/a.py` whose folder `sub/` was replaced by a link to a folder
outside the repository must not pull that folder's text into the index. So no path component may be a
symbolic link, both when listing and when reading; the read walks the path one folder at a time with
O_NOFOLLOW relative to the folder already opened, so a swap between listing and reading cannot redirect it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forge_mcp.core.config import MinerConfig
from forge_mcp.core.errors import RepoError
from forge_mcp.miner.blob import chunk_blob
from forge_mcp.miner.chunker import Chunk
from forge_mcp.miner.files import skip_reason_by_content, skip_reason_by_path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_COMMON = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_DIR_FLAGS = _COMMON | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
# O_NONBLOCK: a FIFO swapped in under a listed name must not hang the sync (fstat then refuses it).
_FILE_FLAGS = _COMMON | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_WALK = bool(_NOFOLLOW) and os.open in os.supports_dir_fd  # POSIX; elsewhere resolve, open, then compare


@dataclass(frozen=True)
class WorkFile:
    path: str
    size: int
    mtime_ns: int


def list_worktree(
    root: Path, state_dir: Path, cfg: MinerConfig, only: Sequence[str] | None = None
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
    plain_dirs: dict[str, bool] = {"": True}  # repository folder -> a real folder (no link on the way)
    files: dict[str, WorkFile] = {}
    for raw in proc.stdout.split(b"\0"):
        path = raw.decode("utf-8", "surrogateescape")
        if not path or (state_rel and path.startswith(state_rel)):
            continue
        if not _plain_dir(root, path.rpartition("/")[0], plain_dirs):
            continue  # a parent folder is a link (or gone): what lies behind it is not this repository's file
        try:
            st = os.stat(root / path, follow_symlinks=False)
        except OSError:
            continue  # tracked but deleted from the work tree
        if not stat.S_ISREG(st.st_mode):
            continue  # a link, a FIFO, a folder (a submodule)
        if skip_reason_by_path(path, st.st_size, cfg.max_file_bytes, cfg.exclude):
            continue
        files[path] = WorkFile(path, st.st_size, st.st_mtime_ns)
    return files


def _plain_dir(root: Path, folder: str, seen: dict[str, bool]) -> bool:
    """Whether every component of the repository folder `folder` is a real folder, not a link; memoised per
    folder, so a tree of thousands of files costs one lstat per folder."""
    if folder in seen:
        return seen[folder]
    parent, _, _ = folder.rpartition("/")
    ok = _plain_dir(root, parent, seen)
    if ok:
        try:
            ok = stat.S_ISDIR(os.stat(root / folder, follow_symlinks=False).st_mode)
        except OSError:
            ok = False
    seen[folder] = ok
    return ok


def read_inside(root: Path, path: str, limit: int) -> bytes:
    """At most `limit` + 1 bytes of the regular file at repository path `path`, refusing (OSError) a link in
    any component, a path that leaves the root, and anything but a regular file."""
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise OSError(errno.EINVAL, "not a normalised repository path", path)
    fd = _open_walk(root, parts) if _WALK else _open_checked(root, path)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            block = os.read(fd, min(left, 1 << 20))
            if not block:
                break
            chunks.append(block)
            left -= len(block)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _open_walk(root: Path, parts: list[str]) -> int:
    """Open folder by folder relative to the previous one, none of them followed if it is a link (ELOOP)."""
    fd = os.open(root, _COMMON | getattr(os, "O_DIRECTORY", 0))  # the root is the user's choice: links allowed
    try:
        for name in parts[:-1]:
            inner = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)


def _open_checked(root: Path, path: str) -> int:
    """Without openat: resolve, require the resolved path to be the path itself, open it, and check that the
    file opened is the one resolved (same device and inode), so a swap in between is refused."""
    base = Path(os.path.realpath(root))
    expected = base.joinpath(*path.split("/"))
    if Path(os.path.realpath(expected)) != expected:
        raise OSError(errno.ELOOP, "a component is a link", path)
    before = os.stat(expected, follow_symlinks=False)
    fd = os.open(expected, _FILE_FLAGS)
    after = os.fstat(fd)
    if (before.st_dev, before.st_ino) != (after.st_dev, after.st_ino) or not stat.S_ISREG(before.st_mode):
        os.close(fd)
        raise OSError(errno.ELOOP, "the file changed while it was opened", path)
    return fd


def read_and_chunk(
    root: Path, path: str, cfg: MinerConfig, known_sha: str | None = None
) -> tuple[str, list[Chunk] | None, str | None]:
    """(sha256 of the content, chunks, skip reason) for one working-tree file; chunks are None when the
    content still has `known_sha` (a touched but unchanged file is not re-chunked)."""
    data = read_inside(root, path, cfg.max_file_bytes)
    digest = hashlib.sha256(data).hexdigest()
    if digest == known_sha:
        return digest, None, None
    if len(data) > cfg.max_file_bytes:  # grew past the limit since it was listed
        return digest, [], "huge"
    reason = skip_reason_by_content(data)
    if reason:
        return digest, [], reason
    chunks, _ = chunk_blob(path, data, cfg.chunk_budget)
    return digest, chunks, None
