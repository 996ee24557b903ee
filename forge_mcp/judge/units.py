"""The held-out examples the judge scores, and where a generated unit ends.

A completion example is the signature + docstring of a function (the prompt) and its body (the
reference). Generation stops at the end of the unit: the first line back at the signature's indentation
(Python), the `end` at that indentation (Ruby), or the brace that closes the body (the C family).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from forge_mcp.core.errors import JudgeError
from forge_mcp.miner.languages import language_for

INDENT_LANGS = {"python"}
END_LANGS = {"ruby"}


@dataclass(frozen=True)
class Example:
    prompt: str
    reference: str
    language: str
    path: str
    symbol: str


def _origin(row: dict[str, object]) -> tuple[str | None, str, str]:
    """(language, path, symbol): recorded in datasets since the judge; older ones have only the prompt's
    header line, `<comment> path / symbol`."""

    if row.get("language"):
        return str(row["language"]), str(row.get("path", "")), str(row.get("symbol", ""))
    header = str(row["prompt"]).split("\n", 1)[0]
    match = re.match(r"^\S+\s+(\S+)(?:\s+/\s+(\S+))?", header)
    path, symbol = (match.group(1), match.group(2) or "") if match else ("", "")
    return language_for(path), path, symbol


def load_examples(dataset_path: Path, max_examples: int, seed: int) -> tuple[list[Example], int]:
    """The completion test split, sampled reproducibly down to `max_examples`; returns (sample, total)."""
    path = dataset_path / "completion" / "test.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []
    examples = []
    for row in rows:
        language, source, symbol = _origin(row)
        if language is not None:
            examples.append(
                Example(
                    prompt=row["prompt"], reference=row["completion"], language=language, path=source, symbol=symbol
                )
            )
    if not examples:
        raise JudgeError(
            f"the dataset {dataset_path.name} has an empty test set (no function changed in the "
            "held-out recent commits): commit changes to some functions, run chunk_data, then validate"
        )
    total = len(examples)
    if total > max_examples:
        keep = sorted(random.Random(seed).sample(range(total), max_examples))
        examples = [examples[i] for i in keep]
    return examples, total


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _base_indent(prompt: str) -> int:
    body = prompt.split("\n", 1)[1] if "\n" in prompt else prompt  # the first line is the path header
    lines = [line for line in body.splitlines() if line.strip()]
    return min((_indent(line) for line in lines), default=0)


def _line_unit_end(prompt: str, text: str, include_end_line: bool) -> int | None:
    """Indentation languages: the unit ends before (Python) or after (Ruby `end`) the first line that is
    back at the signature's indentation, once the body has started."""
    base, seen_body, pos = _base_indent(prompt), False, 0
    first = True
    for line in text.splitlines(keepends=True):
        start, pos = pos, pos + len(line)
        if first and not prompt.endswith("\n"):
            first = False
            continue  # the rest of the prompt's last line
        first = False
        if not line.endswith("\n") or not line.strip():
            continue  # an unfinished or blank line decides nothing yet
        if _indent(line) > base:
            seen_body = True
        elif seen_body or include_end_line:
            if include_end_line and line.strip() == "end":
                return pos
            if not include_end_line:
                return start
    return None


_TOKEN = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n]){0,4}\'|`(?:\\.|[^`\\])*`|[{}]', re.S)


def _brace_unit_end(prompt: str, text: str) -> int | None:
    """C family: the unit ends after the brace that brings the depth back to zero (strings, chars and
    comments skipped; a trailing `;` or `,` on that line is kept)."""
    body = prompt.split("\n", 1)[1] if "\n" in prompt else ""
    joined, offset = body + text, len(body)
    depth, opened = 0, False
    for match in _TOKEN.finditer(joined):
        token = match.group()
        if token == "{":
            depth, opened = depth + 1, True
        elif token == "}":
            depth -= 1
            if opened and depth <= 0 and match.end() > offset:
                end = match.end()
                trailing = re.match(r"[ \t]*[;,]?", joined[end:])
                return end + (trailing.end() if trailing else 0) - offset
    return None


def unit_end(prompt: str, text: str, language: str) -> int | None:
    """Where in `text` (the generation after `prompt`) the unit ends, or None while it is still open."""
    if language in INDENT_LANGS:
        return _line_unit_end(prompt, text, include_end_line=False)
    if language in END_LANGS:
        return _line_unit_end(prompt, text, include_end_line=True)
    return _brace_unit_end(prompt, text)


def trim(prompt: str, text: str, language: str) -> str:
    """The generation cut at the end of its unit (all of it when the unit never closed)."""
    end = unit_end(prompt, text, language)
    return (text if end is None else text[:end]).rstrip() + "\n"
