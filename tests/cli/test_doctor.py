"""forge-mcp doctor and skills install."""

from __future__ import annotations

import json
from pathlib import Path

from forge_mcp.cli.doctor import CHECKS, Check, doctor
from forge_mcp.cli.main import main
from forge_mcp.cli.skills import install_skills, skill_folders
from forge_mcp.core.workspace import Workspace


def test_doctor_checks_everything_and_says_what_to_fix(repo, monkeypatch, capsys) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    checks = {c.name: c for c in doctor(Workspace.open(repo.path))}
    assert set(checks) == {
        "python",
        "mlx",
        "base model",
        "memory",
        "git",
        "chromadb",
        "embedder",
        "llama.cpp",
        "ollama",
        "disk",
    }
    assert checks["base model"].status == "ok" and "smollm2-135m" in checks["base model"].detail
    assert "training tokens/s" in checks["mlx"].detail  # what the budget plan expects on this machine
    assert checks["python"].status == "ok" and checks["git"].status == "ok" and "project" in checks["git"].detail
    assert checks["ollama"].status == "warn" and "llama.cpp" in checks["ollama"].detail and checks["ollama"].fix
    assert main(["doctor", "--repo", str(repo.path), "--json"]) in (0, 1)
    printed = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in printed] == list(checks)


def test_a_check_that_raises_is_reported_not_fatal(monkeypatch) -> None:
    def broken(ws: object) -> Check:
        raise RuntimeError("boom")

    monkeypatch.setattr("forge_mcp.cli.doctor.CHECKS", [broken, *CHECKS[:1]])
    results = doctor(None)
    assert results[0].status == "fail" and "boom" in results[0].detail and results[1].name == "python"


def test_doctor_outside_a_repository_checks_the_machine(tmp_path: Path, capsys) -> None:
    assert main(["doctor", "--repo", str(tmp_path)]) in (0, 1)
    out = capsys.readouterr().out
    assert "machine checks only" in out and "python" in out


def test_skills_install_for_claude_code_and_antigravity(repo, monkeypatch, tmp_path: Path, capsys) -> None:
    names = [f.name for f in skill_folders()]
    assert "forge-mcp" in names
    project = install_skills("claude-code", "project", repo.path)
    assert project == [repo.path / ".claude/skills/forge-mcp"] and (project[0] / "SKILL.md").is_file()
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["skills", "--client", "antigravity", "--scope", "user"]) == 0
    assert (tmp_path / ".gemini/antigravity/skills/forge-mcp/SKILL.md").is_file()
    assert main(["skills", "--client", "antigravity", "--repo", str(repo.path)]) == 0
    assert (repo.path / ".agents/skills/forge-mcp/SKILL.md").read_text().startswith("---\nname: forge-mcp")
