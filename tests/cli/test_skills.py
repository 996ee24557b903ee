"""Installing the Agent Skills: every skill folder copied whole, an older copy replaced, user scope under HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge_mcp.cli.skills import install_skills, skill_folders
from forge_mcp.core.errors import ConfigError


def test_every_skill_has_its_manifest() -> None:
    folders = skill_folders()
    assert folders and all((f / "SKILL.md").read_text(encoding="utf-8").startswith("---") for f in folders)


def test_a_reinstall_replaces_the_older_copy(tmp_path: Path) -> None:
    (first,) = install_skills("claude-code", "project", tmp_path)
    (first / "stale.md").write_text("left from an older version\n")
    (again,) = install_skills("claude-code", "project", tmp_path)
    assert again == tmp_path / ".claude" / "skills" / first.name
    assert not (again / "stale.md").exists() and (again / "SKILL.md").is_file()
    assert not list(again.parent.glob(".*.tmp"))  # no half-copied folder left beside it


def test_user_scope_goes_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (copy,) = install_skills("antigravity", "user", tmp_path / "repo")
    assert copy.parent == tmp_path / "home" / ".gemini" / "antigravity" / "skills"


def test_an_unknown_client_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown client/scope"):
        install_skills("vim", "project", tmp_path)
