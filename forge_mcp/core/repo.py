"""Repository roots and path confinement, and opening a git repository with GitPython.

The server is started with one or more roots; every path an agent passes is resolved (symlinks
included) and refused unless it lies inside one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import git

from forge_mcp.core.errors import NotAGitRepoError, PathOutsideRootsError, RefNotFoundError, RepoError, quoted

MAX_PATH_BYTES = 4096  # PATH_MAX on Linux; macOS allows 1024, and says so itself
MAX_NAME_BYTES = 255  # one path component (NAME_MAX)
MAX_REF_CHARS = 1024  # far beyond any real ref or revision expression (`main~3`, `v1.2^{commit}`)


def check_ref(ref: str, what: str = "ref") -> str:
    """`ref` when it can be a git revision, else RefNotFoundError saying why (before git or the OS sees it)."""
    if not ref.strip():
        raise RefNotFoundError(f"{what} is empty: pass a commit, branch or tag (e.g. HEAD, main, v1.0, HEAD~3)")
    if ref.startswith("-"):
        raise RefNotFoundError(
            f"{what} {quoted(ref)} starts with '-', which git would read as an option: pass a commit, branch or tag"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in ref):
        raise RefNotFoundError(
            f"{what} {quoted(ref)} contains a NUL or control character, which no git ref can: "
            "pass a commit, branch or tag"
        )
    if len(ref) > MAX_REF_CHARS:
        raise RefNotFoundError(
            f"{what} is {len(ref)} characters long ({quoted(ref, 60)}); the limit is "
            f"{MAX_REF_CHARS}: pass a commit, branch or tag"
        )
    return ref


def check_path_text(path: str) -> None:
    """Refuse a path no filesystem here could hold, with the reason, before the OS is asked about it."""
    if "\x00" in path:
        raise PathOutsideRootsError(f"path {quoted(path)} contains a NUL byte; pass a plain path")
    encoded = path.encode("utf-8", "surrogateescape")
    if len(encoded) > MAX_PATH_BYTES:
        raise RepoError(f"path {quoted(path, 60)} is {len(encoded)} bytes long; the limit is {MAX_PATH_BYTES}")
    for part in path.split("/"):
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > MAX_NAME_BYTES:
            raise RepoError(
                f"path {quoted(path, 60)} has a component of {size} bytes ({quoted(part, 40)}); a file "
                f"or folder name may have at most {MAX_NAME_BYTES}: pass an existing repository path"
            )


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
        check_path_text(path)
        try:
            candidate = Path(path).expanduser()
            if not candidate.is_absolute():
                candidate = self.default / candidate
            candidate = candidate.resolve()
            inside = any(candidate == root or candidate.is_relative_to(root) for root in self.paths)
            exists = inside and candidate.exists()
        except (OSError, RuntimeError) as exc:  # a symlink loop, a name the filesystem refuses, an unreadable parent
            raise RepoError(f"cannot resolve the path {quoted(path)}: {getattr(exc, 'strerror', None) or exc}") from exc
        if not inside:
            roots = ", ".join(str(r) for r in self.paths)
            raise PathOutsideRootsError(
                f"{quoted(path)} is outside the repository roots this forge was started with ({roots}); "
                "pass a path inside one of them, or restart the server with --repo for that folder"
            )
        if not exists:
            raise RepoError(f"{quoted(path)} does not exist (resolved to {candidate})")
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
