"""cli/admin.py through main(): `doctor` (its human rendering and exit status) and `skills` (installing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge_mcp.cli import doctor as doctor_module
from forge_mcp.cli.doctor import Check
from forge_mcp.cli.main import main
from forge_mcp.cli.skills import skill_folders


def _checks(*results: Check) -> list:
    return [lambda ws, r=r: r for r in results]  # hand-written checks: no probing of this machine


def test_doctor_renders_marks_and_fixes_and_fails_on_a_failed_check(repo, monkeypatch, capsys) -> None:
    ok, warn = Check(name="python", status="ok", detail="Python 3"), Check(name="disk", status="warn", detail="low")
    failed = Check(name="git", status="fail", detail="git missing", fix="install git")
    monkeypatch.setattr(doctor_module, "CHECKS", _checks(ok, warn))
    assert main(["doctor", "--repo", str(repo.path)]) == 0  # a warning is not a failure
    assert capsys.readouterr().out.splitlines() == ["ok   python     Python 3", "WARN disk       low"]
    monkeypatch.setattr(doctor_module, "CHECKS", _checks(ok, failed))
    assert main(["doctor", "--repo", str(repo.path)]) == 1
    assert "FAIL git        git missing\n     fix: install git" in capsys.readouterr().out
    assert main(["doctor", "--repo", str(repo.path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[1] == failed.model_dump()


def test_doctor_outside_a_repository_says_so_first(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(doctor_module, "CHECKS", _checks(Check(name="python", status="ok", detail="Python 3")))
    assert main(["doctor", "--repo", str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("WARN repository  ") and first.endswith("(machine checks only)")


@pytest.mark.parametrize(("client", "folder"), [("claude-code", ".claude/skills"), ("antigravity", ".agents/skills")])
def test_skills_installs_every_skill_into_the_project(repo, capsys, client: str, folder: str) -> None:
    assert main(["skills", "--client", client, "--repo", str(repo.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [p.name for p in skill_folders()]
    assert names and lines == [f"installed {repo.path.resolve() / folder / n / 'SKILL.md'}" for n in names]
    assert all((repo.path / folder / n / "SKILL.md").is_file() for n in names)
    assert main(["skills", "--client", client, "--repo", str(repo.path)]) == 0  # again: replaced, not nested
    assert sorted(p.name for p in (repo.path / folder).iterdir()) == sorted(names)


def test_skills_for_the_user_go_under_home(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["skills", "--scope", "user"]) == 0
    assert capsys.readouterr().out.startswith(f"installed {tmp_path / '.claude' / 'skills'}")
