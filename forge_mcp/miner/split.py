"""Held-out split by recency: units touched by the most recent commits are the test set.

Validation must measure what the model has not seen, so anything changed in the last N commits goes to
test and never to train or valid; the rest is split into train/valid by a seeded hash of the unit.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from forge_mcp.errors import RepoError
from forge_mcp.miner.chunker import Chunk

_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)

TouchedLines = dict[str, list[tuple[int, int]]]


def recent_changes(repo_root: Path, commit: str, n: int) -> tuple[TouchedLines, int]:
    """Lines (new side, 1-based inclusive ranges) changed by the last `n` first-parent commits.

    Returns (touched lines per path, the number of commits actually used): a repository with fewer
    commits holds out fewer, and a single-commit repository holds out none.
    """
    if n <= 0:
        return {}, 0
    count = subprocess.run(["git", "rev-list", "--count", "--first-parent", commit], cwd=repo_root,
                           capture_output=True, text=True, check=False)
    if count.returncode != 0:
        raise RepoError(f"cannot count commits: {count.stderr.strip()}")
    used = min(n, int(count.stdout.strip()) - 1)
    if used <= 0:
        return {}, 0
    proc = subprocess.run(["git", "diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames",
                           f"{commit}~{used}", commit, "--"], cwd=repo_root, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RepoError(f"cannot diff the recent commits: {proc.stderr.decode(errors='replace').strip()}")
    touched: TouchedLines = {}
    path: str | None = None
    for line in proc.stdout.split(b"\n"):
        if line.startswith(b"+++ "):
            target = line[4:].decode("utf-8", "surrogateescape")
            path = target[2:] if target.startswith("b/") else None
        elif line.startswith(b"@@") and path is not None:
            match = _HUNK.match(line)
            if match:
                start, length = int(match.group(1)), int(match.group(2) or 1)
                # A pure deletion (length 0) still touches the unit around where it happened.
                touched.setdefault(path, []).append((max(start, 1), start + max(length, 1) - 1))
    return touched, used


def is_touched(chunk: Chunk, touched: TouchedLines) -> bool:
    return any(s <= chunk.end_line and e >= chunk.start_line for s, e in touched.get(chunk.path, ()))


def assign_split(chunk: Chunk, touched: TouchedLines, valid_fraction: float, seed: int) -> str:
    """"test" for recently touched units; else "valid" or "train" by a stable seeded hash."""
    if is_touched(chunk, touched):
        return "test"
    digest = hashlib.sha256(f"{seed}\0{chunk.path}\0{chunk.symbol}".encode("utf-8", "surrogatepass")).digest()
    return "valid" if int.from_bytes(digest[:8], "big") / 2**64 < valid_fraction else "train"
