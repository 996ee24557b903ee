"""Install the Agent Skills in `skills/` where agents look for them (Claude Code, Antigravity)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from forge_mcp.core.errors import ConfigError

SKILLS_DIR = Path(__file__).resolve().parents[2] / "skills"
Client = Literal["claude-code", "antigravity"]
Scope = Literal["project", "user"]
# Where each client reads skills from: <root>/<skill-name>/SKILL.md.
PLACES: dict[tuple[str, str], str] = {
    ("claude-code", "project"): "{repo}/.claude/skills",
    ("claude-code", "user"): "~/.claude/skills",
    ("antigravity", "project"): "{repo}/.agents/skills",
    ("antigravity", "user"): "~/.gemini/antigravity/skills",
}


def skill_folders() -> list[Path]:
    return sorted(p.parent for p in SKILLS_DIR.glob("*/SKILL.md"))


def install_skills(client: Client, scope: Scope, repo: Path) -> list[Path]:
    """Copy every skill folder into the client's skills folder (replacing an older copy); returns the copies."""
    place = PLACES.get((client, scope))
    if place is None:
        raise ConfigError(
            f"unknown client/scope {client}/{scope}: clients {sorted({c for c, _ in PLACES})}, scopes project or user"
        )
    root = Path(os.path.expanduser(place.format(repo=repo.resolve())))
    installed = []
    for folder in skill_folders():
        dest = root / folder.name
        tmp = root / f".{folder.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(folder, tmp)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)  # the client never sees half a skill
        installed.append(dest)
    return installed
