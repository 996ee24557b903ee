"""A real third-party MCP client: the MCP Inspector CLI (installed by .ci/run; skipped without it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import ALL_TOOLS

ROOT = Path(__file__).resolve().parents[2]


def _inspector() -> str | None:
    candidates = [
        os.environ.get("MCP_INSPECTOR"),
        str(ROOT / ".ci/inspector/node_modules/.bin/mcp-inspector"),
        shutil.which("mcp-inspector"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


INSPECTOR = _inspector()
pytestmark = pytest.mark.skipif(
    INSPECTOR is None or shutil.which("node") is None,
    reason="MCP Inspector CLI not installed (bash .ci/run installs it)",
)


def _run(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    env["HOME"] = str(home)
    cmd = [
        str(INSPECTOR),
        "--cli",
        sys.executable,
        "-m",
        "forge_mcp",
        "serve",
        "--repo",
        str(repo),
        "--no-watch",
        *args,
        "--format",
        "json",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_lists_tools_and_calls_monitor_repo(repo, tmp_path: Path, era: str) -> None:
    listed = _run(repo.path, tmp_path, "--protocol-era", era, "--method", "tools/list")
    assert listed.returncode == 0, listed.stderr
    tools = json.loads(listed.stdout)["result"]["tools"]
    by_name = {t["name"]: t for t in tools}
    assert set(by_name) == ALL_TOOLS
    assert by_name["monitor_repo"]["annotations"]["readOnlyHint"] is True

    called = _run(
        repo.path,
        tmp_path,
        "--protocol-era",
        era,
        "--method",
        "tools/call",
        "--tool-name",
        "monitor_repo",
        "--tool-arg",
        "since=v0.1",
    )
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)["result"]
    assert result["structuredContent"]["commit_count"] == 1
    assert result["structuredContent"]["files"][0]["path"] == "src/util.py"


def test_inspector_sees_a_tool_error(repo, tmp_path: Path) -> None:
    called = _run(
        repo.path, tmp_path, "--method", "tools/call", "--tool-name", "monitor_repo", "--tool-arg", "repo=/etc"
    )
    assert called.returncode != 0
    assert "outside the repository roots" in called.stdout


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_lists_resources_and_prompts(repo, tmp_path: Path, era: str) -> None:
    resources = _run(repo.path, tmp_path, "--protocol-era", era, "--method", "resources/list")
    assert resources.returncode == 0, resources.stderr
    uris = {r["uri"] for r in json.loads(resources.stdout)["result"]["resources"]}
    assert {"forge://repos", "forge://runs", "forge://reports", "forge://deployments", "forge://cycles"} <= uris
    prompts = _run(repo.path, tmp_path, "--protocol-era", era, "--method", "prompts/list")
    assert prompts.returncode == 0, prompts.stderr
    names = {p["name"] for p in json.loads(prompts.stdout)["result"]["prompts"]}
    assert {"repo_guardian", "why_validation_failed", "what_changed"} <= names
