"""Markdown and reStructuredText chunked by section (a heading and what follows, up to the next)."""

from __future__ import annotations

import re

from forge_mcp.miner.chunker import Chunk

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.<>_])\1{2,}\s*$")


def chunk_doc(path: str, src: bytes, language: str, budget: int = 2000) -> list[Chunk]:
    text = src.decode("utf-8")
    lines = text.splitlines(keepends=True)
    starts = _sections(lines, language)
    chunks: list[Chunk] = []
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
    for i, (first, title, trail) in enumerate(starts):
        last = starts[i + 1][0] if i + 1 < len(starts) else len(lines)
        for part_first, part_last in _by_paragraphs(lines, first, last, budget):
            body = "".join(lines[part_first:part_last])
            symbol = " > ".join(trail) if trail else ""
            chunks.append(
                Chunk(
                    path=path,
                    language=language,
                    symbol=symbol,
                    kind="section",
                    spans=[(offsets[part_first], offsets[part_last])],
                    start_line=part_first + 1,
                    end_line=max(part_last, part_first + 1),
                    text=body,
                    header=f"{path} / {symbol}" if symbol else path,
                    docstring=title or None,
                )
            )
    for chunk_list in _group_parts(chunks):
        for n, chunk in enumerate(chunk_list, start=1):
            chunk.part, chunk.parts = n, len(chunk_list)
    return chunks


def _sections(lines: list[str], language: str) -> list[tuple[int, str, list[str]]]:
    """(first line, title, heading trail) of each section; line 0 always starts one."""
    found: list[tuple[int, str, list[str]]] = [(0, "", [])]
    trail: list[tuple[int, str]] = []
    rst_levels: list[str] = []
    in_fence = False
    for i, line in enumerate(lines):
        if language == "markdown":
            if _FENCE.match(line):
                in_fence = not in_fence
                continue
            match = None if in_fence else _ATX.match(line)
            if match is None:
                continue
            level, title = len(match.group(1)), match.group(2).strip()
            start = i
        else:
            if (
                i == 0
                or not _RST_UNDERLINE.match(line)
                or not lines[i - 1].strip()
                or len(line.rstrip()) < len(lines[i - 1].rstrip())
            ):
                continue
            char = line.strip()[0]
            if char not in rst_levels:
                rst_levels.append(char)
            level, title = rst_levels.index(char) + 1, lines[i - 1].strip()
            start = i - 1
            if start >= 1 and _RST_UNDERLINE.match(lines[start - 1]):  # overlined title
                start -= 1
        trail = [t for t in trail if t[0] < level] + [(level, title)]
        if found[-1][0] == start:
            found[-1] = (start, title, [t[1] for t in trail])
        elif start > found[-1][0]:
            found.append((start, title, [t[1] for t in trail]))
    return found


def _by_paragraphs(lines: list[str], first: int, last: int, budget: int) -> list[tuple[int, int]]:
    """Split an oversized section at blank lines (never inside a paragraph unless it alone is too big)."""
    parts: list[tuple[int, int]] = []
    start, size = first, 0
    for i in range(first, last):
        size += len(lines[i].strip())
        if size > budget and i > start and not lines[i - 1].strip():
            parts.append((start, i))
            start, size = i, len(lines[i].strip())
        elif size > budget * 2 and i > start:
            parts.append((start, i))
            start, size = i, len(lines[i].strip())
    if start < last or not parts:
        parts.append((start, last))
    return parts


def _group_parts(chunks: list[Chunk]) -> list[list[Chunk]]:
    groups: list[list[Chunk]] = []
    for chunk in chunks:
        if groups and groups[-1][0].symbol == chunk.symbol and groups[-1][-1].spans[0][1] == chunk.spans[0][0]:
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    return groups
