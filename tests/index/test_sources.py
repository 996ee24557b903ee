"""The index reads only the repository's own regular files: never through a link, in any path component."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from forge_mcp.core.config import MinerConfig
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.rag import RagIndex
from forge_mcp.index.sources import list_worktree, read_and_chunk

MARKER = "exfiltrated_outside_marker_q7z"


def _outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "a.py").write_text(f"def {MARKER}():\n    return '{MARKER}'\n", encoding="utf-8")
    return folder


def _state_has(ws: Workspace, text: str) -> list[Path]:
    """Every file of the state folder (catalog SQLite, Chroma's SQLite and HNSW files) holding `text`."""
    return [p for p in ws.state_dir.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_a_symlinked_parent_folder_is_not_followed(make_repo, minilm, tmp_path: Path) -> None:
    repo = make_repo("linked")
    repo.commit("code", {"sub/a.py": "def inside_function():\n    return 1\n", "main.py": "def main():\n    pass\n"})
    shutil.rmtree(repo.path / "sub")
    (repo.path / "sub").symlink_to(_outside(tmp_path), target_is_directory=True)
    ws = Workspace.open(repo.path)
    assert "sub/a.py" in repo.git("ls-files")  # still tracked: git lists it, the index must not read it
    index = RagIndex(ws, embedder=minilm)
    index.sync()
    assert {r["path"] for r in index.catalog.rows()} == {"main.py"}
    assert not any(MARKER in r["text"] or MARKER in r["symbol"] for r in index.catalog.rows())
    stored = index.vectors.collection.get(include=["metadatas", "documents"])
    assert MARKER not in repr(stored)
    assert _state_has(ws, MARKER) == []


def test_a_symlinked_file_pointing_outside_is_not_read(make_repo, minilm, tmp_path: Path) -> None:
    repo = make_repo("linkfile")
    repo.commit("code", {"b.py": "def inside_b():\n    return 2\n", "main.py": "def main():\n    pass\n"})
    (repo.path / "b.py").unlink()
    (repo.path / "b.py").symlink_to(_outside(tmp_path) / "a.py")
    ws = Workspace.open(repo.path)
    index = RagIndex(ws, embedder=minilm)
    index.sync()
    assert {r["path"] for r in index.catalog.rows()} == {"main.py"}
    assert _state_has(ws, MARKER) == []


def test_a_folder_swapped_for_a_link_after_listing_is_refused(make_repo, tmp_path: Path) -> None:
    """The race: listed while `sub/` was a folder, read after it became a link."""
    repo = make_repo("race")
    repo.commit("code", {"sub/a.py": "def inside_function():\n    return 1\n"})
    cfg = MinerConfig()
    listed = list_worktree(repo.path, repo.path / ".forge", cfg)
    assert set(listed) == {"sub/a.py"}
    shutil.rmtree(repo.path / "sub")
    (repo.path / "sub").symlink_to(_outside(tmp_path), target_is_directory=True)
    with pytest.raises(OSError):
        read_and_chunk(repo.path, "sub/a.py", cfg)
    assert list_worktree(repo.path, repo.path / ".forge", cfg) == {}


def test_a_fifo_under_a_listed_name_neither_blocks_nor_is_read(make_repo) -> None:
    repo = make_repo("fifo")
    repo.commit("code", {"pipe.py": "def f():\n    pass\n"})
    (repo.path / "pipe.py").unlink()
    os.mkfifo(repo.path / "pipe.py")
    cfg = MinerConfig()
    assert list_worktree(repo.path, repo.path / ".forge", cfg) == {}
    with pytest.raises(OSError, match="regular"):
        read_and_chunk(repo.path, "pipe.py", cfg)  # O_NONBLOCK: returns at once instead of waiting for a writer


def test_links_inside_the_repository_are_skipped_too(make_repo) -> None:
    """git tracks a link as a link; the files it points to are listed under their own paths already."""
    repo = make_repo("inner")
    repo.commit("code", {"real/x.py": "def x():\n    pass\n"})
    (repo.path / "alias").symlink_to(repo.path / "real", target_is_directory=True)
    (repo.path / "y.py").symlink_to(repo.path / "real" / "x.py")
    repo.commit("links")
    cfg = MinerConfig()
    assert set(list_worktree(repo.path, repo.path / ".forge", cfg)) == {"real/x.py"}
    with pytest.raises(OSError):
        read_and_chunk(repo.path, "alias/x.py", cfg)
