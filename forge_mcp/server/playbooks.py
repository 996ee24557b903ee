"""The conductor's playbooks: prompt files in `prompts/`, each Markdown with TOML front matter.

+++
name = "what_changed"
title = "..."
description = "..."
[[arguments]]
name = "repo"
description = "..."
required = false
default = "."
+++
Body text; {{repo}} is replaced by the argument's value, and {{given_arguments}} by a JSON
object of the arguments the caller actually gave (handy for "call tool X with ...").
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from forge_mcp.core.errors import ConfigError

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")
GIVEN = "given_arguments"


@dataclass(frozen=True)
class PromptArg:
    name: str
    description: str
    required: bool = False
    default: str = ""


@dataclass(frozen=True)
class Playbook:
    name: str
    title: str
    description: str
    arguments: tuple[PromptArg, ...]
    body: str

    def render(self, values: dict[str, str | None]) -> str:
        """The body with every {{argument}} filled in (defaults for omitted optional ones)."""
        known = {a.name: a for a in self.arguments}
        unknown = set(values) - set(known)
        if unknown:
            raise ConfigError(f"prompt {self.name} has no argument(s) {sorted(unknown)}")
        given = {k: v for k, v in values.items() if v not in (None, "")}
        filled: dict[str, str] = {GIVEN: json.dumps(given)}
        for arg in self.arguments:
            value = values.get(arg.name)
            if (value is None or value == "") and arg.required:
                raise ConfigError(f"prompt {self.name} needs the argument {arg.name!r}: {arg.description}")
            filled[arg.name] = value if value not in (None, "") else arg.default
        return _PLACEHOLDER.sub(lambda m: filled.get(m.group(1), m.group(0)), self.body).strip() + "\n"


def parse_playbook(path: Path) -> Playbook:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"\A\+\+\+\n(.*?)\n\+\+\+\n(.*)\Z", text, re.S)
    if match is None:
        raise ConfigError(f"{path}: a prompt file starts with TOML front matter between +++ lines")
    try:
        meta = tomllib.loads(match.group(1))
        args = tuple(PromptArg(**a) for a in meta.get("arguments", []))
        book = Playbook(meta["name"], meta.get("title", meta["name"]), meta["description"], args, match.group(2))
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: bad front matter: {exc}") from exc
    if not _NAME.match(book.name):
        raise ConfigError(f"{path}: prompt name {book.name!r} must be lower_snake_case")
    used = set(_PLACEHOLDER.findall(book.body))
    missing = used - {a.name for a in args} - {GIVEN}
    if missing:
        raise ConfigError(f"{path}: placeholders without an argument: {sorted(missing)}")
    return book


def load_playbooks(folder: Path = PROMPTS_DIR) -> list[Playbook]:
    books = [parse_playbook(p) for p in sorted(folder.glob("*.md"))] if folder.is_dir() else []
    names = [b.name for b in books]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(f"duplicate prompt names in {folder}: {sorted(duplicates)}")
    return books
