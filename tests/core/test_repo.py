from pathlib import Path

import pytest

from forge_mcp.core.errors import NotAGitRepoError, PathOutsideRootsError, RepoError
from forge_mcp.core.repo import Roots, repo_toplevel


def test_relative_paths_start_at_the_first_root(repo) -> None:
    roots = Roots([repo.path])
    assert roots.resolve(None) == repo.path.resolve()
    assert roots.resolve("src/app.py") == (repo.path / "src/app.py").resolve()


@pytest.mark.parametrize("bad", ["../", "../../etc/passwd", "/etc", "src/../../x"])
def test_paths_outside_the_roots_are_refused(repo, bad: str) -> None:
    with pytest.raises(PathOutsideRootsError, match="outside the repository roots"):
        Roots([repo.path]).resolve(bad)


def test_a_symlink_escaping_the_root_is_refused(repo, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo.path / "link").symlink_to(outside)
    with pytest.raises(PathOutsideRootsError):
        Roots([repo.path]).resolve("link")


def test_missing_path_and_missing_root(repo, tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="does not exist"):
        Roots([repo.path]).resolve("nope.py")
    with pytest.raises(RepoError, match="does not exist"):
        Roots([tmp_path / "missing"])


def test_toplevel_of_a_nested_path_and_non_git(repo, tmp_path: Path) -> None:
    assert repo_toplevel(repo.path / "src" / "app.py") == repo.path.resolve()
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotAGitRepoError, match="not inside a git repository"):
        repo_toplevel(plain)


def test_repository_above_the_root_is_refused(repo) -> None:
    roots = Roots([repo.path / "src"])
    with pytest.raises(PathOutsideRootsError, match="starts at"):
        repo_toplevel(roots.resolve(None), roots)
