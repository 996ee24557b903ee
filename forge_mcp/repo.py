"""Repository roots and path confinement, and opening a git repository with GitPython.

The server is started with one or more roots; every path an agent passes is resolved (symlinks
included) and refused unless it lies inside one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import git

from forge_mcp.errors import NotAGitRepoError, PathOutsideRootsError, RepoError


class Roots:
    """The folders a server (or CLI) may touch. The first one is the default for omitted paths."""

    def __init__(self, paths: Sequence[Path | str]) -> None:
        if not paths:
            raise RepoError("at least one repository root is needed")
        resolved: list[Path] = []
        for raw in paths:
            path = Path(raw).expanduser().resolve()
            if not path.is_dir():
                raise RepoError(f"repository root {raw} does not exist or is not a folder")
            if path not in resolved:
                resolved.append(path)
        self.paths: tuple[Path, ...] = tuple(resolved)

    @property
    def default(self) -> Path:
        return self.paths[0]

    def resolve(self, path: str | None) -> Path:
        """An absolute, symlink-free path inside a root; relative paths start at the default root."""
        if path is None or not str(path).strip():
            return self.default
        if "\x00" in path:
            raise PathOutsideRootsError("path contains a NUL byte")
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = self.default / candidate
        candidate = candidate.resolve()
        if not any(candidate == root or candidate.is_relative_to(root) for root in self.paths):
            roots = ", ".join(str(r) for r in self.paths)
            raise PathOutsideRootsError(
                f"{path} is outside the repository roots this forge was started with ({roots}); "
                "pass a path inside one of them, or restart the server with --repo for that folder"
            )
        if not candidate.exists():
            raise RepoError(f"{path} does not exist (resolved to {candidate})")
        return candidate

    def within(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.paths)


def open_repo(path: Path) -> git.Repo:
    """The git repository whose work tree contains `path`."""
    start = path if path.is_dir() else path.parent
    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise NotAGitRepoError(
            f"{path} is not inside a git repository; run `git init` there or pass a repository path"
        ) from exc
    if repo.bare or repo.working_tree_dir is None:
        raise NotAGitRepoError(f"{path} is a bare git repository; forge-mcp needs a work tree")
    return repo


def repo_toplevel(path: Path, roots: Roots | None = None) -> Path:
    """The work-tree root of the repository containing `path`, confined to `roots` when given."""
    repo = open_repo(path)
    top = Path(str(repo.working_tree_dir)).resolve()
    repo.close()
    if roots is not None and not roots.within(top):
        raise PathOutsideRootsError(
            f"the git repository containing {path} starts at {top}, outside the roots this forge was "
            "started with; start the server with --repo pointing at the repository's top folder"
        )
    return top
