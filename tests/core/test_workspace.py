import json
from pathlib import Path

from forge_mcp.core.workspace import Workspace


def test_state_folder_store_and_saved_config(repo) -> None:
    ws = Workspace.open(repo.path / "src")
    assert ws.repo_root == repo.path.resolve()
    assert ws.state_dir == repo.path.resolve() / ".forge"
    assert (ws.state_dir / "forge.db").is_file()
    saved = json.loads((ws.state_dir / "config.json").read_text())
    assert saved["monitor"]["min_changed_files"] == 10


def test_state_folder_is_excluded_from_git(repo) -> None:
    Workspace.open(repo.path)
    Workspace.open(repo.path)  # the exclude line is added once
    exclude = (repo.path / ".git" / "info" / "exclude").read_text().splitlines()
    assert exclude.count("/.forge/") == 1
    assert repo.git("status", "--porcelain") == ""


def test_state_dir_from_env_outside_the_repo(repo, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FORGE_STATE_DIR", str(tmp_path / "state"))
    ws = Workspace.open(repo.path)
    assert ws.state_dir == (tmp_path / "state").resolve()
    assert (tmp_path / "state" / "forge.db").is_file()
    assert not (repo.path / ".forge").exists()


def test_last_trained_commit_survives_reopening(repo) -> None:
    head = repo.git("rev-parse", "HEAD")
    Workspace.open(repo.path).mark_trained(head, 1234.5)
    ws = Workspace.open(repo.path)
    assert ws.last_trained_commit == head and ws.last_trained_at == 1234.5


def test_a_cloned_forge_toml_cannot_move_the_state_folder(repo, tmp_path: Path) -> None:
    """The hostile clone: its forge.toml points state_dir at a folder outside with a config.json in it."""
    import pytest

    from forge_mcp.core.errors import ConfigError

    outside = repo.path.parent / "outside"
    outside.mkdir()
    (outside / "config.json").write_text('{"mine": true}\n')
    repo.commit("hostile config", {"forge.toml": 'state_dir = "../outside"\n'})
    with pytest.raises(ConfigError, match="may not set"):
        Workspace.open(repo.path)
    assert sorted(p.name for p in outside.iterdir()) == ["config.json"]
    assert (outside / "config.json").read_text() == '{"mine": true}\n'


def test_a_linked_git_info_folder_is_not_written_through(make_repo, tmp_path: Path) -> None:
    import shutil

    repo = make_repo("linked")
    repo.commit("one", {"a.py": "x = 1\n"})
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.rmtree(repo.path / ".git" / "info", ignore_errors=True)
    (repo.path / ".git" / "info").symlink_to(outside, target_is_directory=True)
    Workspace.open(repo.path)
    assert list(outside.iterdir()) == []
