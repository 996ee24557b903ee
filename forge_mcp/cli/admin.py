"""CLI commands that look after the installation: doctor, skills.

forge-mcp doctor [--repo PATH] [--json]
forge-mcp skills [--client claude-code|antigravity] [--scope project|user] [--repo PATH]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge_mcp.cli.doctor import doctor
from forge_mcp.cli.skills import install_skills
from forge_mcp.core.errors import ForgeError
from forge_mcp.core.workspace import Workspace

Command = Callable[[argparse.Namespace], int]


def add_commands(sub: Any) -> dict[str, Command]:
    doctor = sub.add_parser(
        "doctor",
        help="check Python, MLX and BLAS, memory, git, ChromaDB, the embedder, "
        "llama.cpp, Ollama and disk space; print what to fix",
    )
    doctor.add_argument("--repo", type=Path, default=Path("."))
    doctor.add_argument("--json", action="store_true")

    skills = sub.add_parser("skills", help="install the Agent Skills for Claude Code or Antigravity")
    skills.add_argument("--client", default="claude-code", choices=("claude-code", "antigravity"))
    skills.add_argument(
        "--scope",
        default="project",
        choices=("project", "user"),
        help="project: into the repository (commit it for the team); user: for every project",
    )
    skills.add_argument("--repo", type=Path, default=Path("."))
    return {"doctor": _doctor, "skills": _skills}


def _doctor(args: argparse.Namespace) -> int:

    try:
        ws = Workspace.open(args.repo.resolve())
        problem = None
    except ForgeError as exc:  # doctor still checks the machine outside a repository
        ws, problem = None, str(exc)
    checks = doctor(ws)
    if args.json:
        print(json.dumps([c.model_dump() for c in checks], indent=2))
    else:
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
        if problem:
            print(f"WARN repository  {problem} (machine checks only)")
        for c in checks:
            print(f"{marks[c.status]} {c.name:10} {c.detail}" + (f"\n     fix: {c.fix}" if c.fix else ""))
    return 1 if any(c.status == "fail" for c in checks) else 0


def _skills(args: argparse.Namespace) -> int:

    for path in install_skills(args.client, args.scope, args.repo):
        print(f"installed {path / 'SKILL.md'}")
    return 0
