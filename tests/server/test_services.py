"""server/services.py: the Forge's roots and their names, confined and cached workspaces, records found across
repositories, and the watchers it starts and stops."""

from __future__ import annotations

import pytest

from forge_mcp.core.errors import NotFoundError, PathOutsideRootsError
from forge_mcp.server.services import Forge
from tests.conftest import GitRepo, wait_until


def test_roots_get_unique_names_and_problems(make_repo, tmp_path) -> None:
    one = make_repo("shop")
    one.commit("a", {"a.py": "x = 1\n", "sub/b.py": "y = 1\n"})
    two = GitRepo(tmp_path / "other" / "shop")
    two.commit("b", {"b.py": "y = 1\n"})
    (tmp_path / "plain folder").mkdir()
    forge = Forge([one.path, two.path, tmp_path / "plain folder", one.path / "sub"])
    assert list(forge.repos) == ["shop", "shop-2", "plain-folder", "sub"]
    assert forge.repos["shop"].is_git and forge.repos["shop-2"].path == two.path.resolve()
    plain = forge.repos["plain-folder"]
    assert not plain.is_git and "not inside a git repository" in plain.problem
    assert forge.repos["sub"].problem == "inside a larger git repository; pass its top folder"


def test_workspaces_are_confined_cached_and_named(repo, make_repo) -> None:
    outside = make_repo("outside")
    outside.commit("x", {"x.py": "x = 1\n"})
    forge = Forge([repo.path], overrides={"monitor": {"min_changed_files": 7}})
    ws = forge.workspace(str(repo.path / "src"))
    assert ws is forge.workspace() is forge.workspace_named("project") and ws.repo_root == repo.path.resolve()
    assert ws.config.monitor.min_changed_files == 7 and ws.trusted_roots == forge.roots.paths
    assert forge.open_workspaces() == [ws]
    with pytest.raises(PathOutsideRootsError):
        forge.workspace(str(outside.path))
    with pytest.raises(NotFoundError, match="no repository named 'nope'; known: project"):
        forge.workspace_named("nope")


def test_records_are_found_in_the_repository_that_holds_them(make_repo) -> None:
    a, b = make_repo("a"), make_repo("b")
    a.commit("a", {"a.py": "x = 1\n"})
    b.commit("b", {"b.py": "x = 1\n"})
    forge = Forge([a.path, b.path])
    forge.workspace_named("b").store.put_record("runs", "run-b", "completed", {})
    forge.workspace_named("a").store.put_record("reports", "report-a", "passed", {})
    assert forge.workspace_of_run("run-b").repo_root == b.path.resolve()
    assert forge.workspace_of("reports", "report-a").repo_root == a.path.resolve()
    with pytest.raises(NotFoundError, match="no run 'run-x'; the forge://runs resource lists them"):
        forge.workspace_of_run("run-x")
    assert forge.sync_index("a", ["a.py"]) is False  # no index to keep fresh


def test_watchers_start_once_report_batches_and_stop(repo, make_repo) -> None:
    quiet = make_repo("quiet")
    quiet.commit("q", {"q.py": "x = 1\n"})
    quiet.write("forge.toml", "[watch]\nenabled = false\n")
    batches: list[tuple[str, list]] = []
    forge = Forge([repo.path, quiet.path])
    try:
        assert forge.start_watchers(lambda name, batch: batches.append((name, batch.changes))) == ["project"]
        assert forge.start_watchers() == ["project"] and forge.watching("project") and not forge.watching("quiet")
        repo.write("src/new.py", "x = 2\n")
        assert wait_until(lambda: any("src/new.py" in str(changes) for _, changes in batches), timeout=10)
        assert {name for name, _ in batches} == {"project"}
    finally:
        forge.stop_watchers()
    assert not forge.watching("project")
