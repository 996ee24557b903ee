"""Held-out split by recency: units touched by the most recent code-changing commits are the test set.

Validation must measure what the model has not seen, so every unit changed by a held-out commit goes to
test and never to train or valid; the rest is split into train/valid by a seeded hash of the unit.

Which commits are held out: first-parent history is walked back from the commit, and a commit counts only
when its diff touches a code unit (function, method, class, type) of the commit being mined; commits that
change no code (dependency bumps, docs) are skipped, since holding them out would leave nothing to test.
The walk goes on until at least `held_out_commits` code commits and `min_test_units` completion units
are held out, the history or the `max_held_out_commits` bound runs out, or holding out one more commit
would leave fewer than half of the completion units for training.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from forge_mcp.core.errors import RepoError
from forge_mcp.miner.chunker import Chunk
from forge_mcp.miner.examples import UNIT_KINDS, completion_example

_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.M)
CODE_KINDS = UNIT_KINDS | {"class", "type"}
MAX_TEST_SHARE = 0.5  # of the completion units: more held out would starve training
_MAX_PATHSPECS = 1000  # beyond this many paths, diff everything rather than build a huge command line

Hunk = tuple[int, int, int, int]  # old start, old length, new start, new length (git's -U0 header)
Hunks = dict[str, list[Hunk]]  # by path on the new side (deleted files have none)


class HeldOutCommit(BaseModel):
    """One commit whose units went to the test set."""

    sha: str
    subject: str
    units: int = Field(description="Units of the mined commit this commit touched (some may overlap other commits')")


@dataclass(slots=True)
class _Logged:
    sha: str
    parent: str | None  # first parent; None for the root commit
    subject: str
    paths: list[str]


@dataclass(slots=True)
class HeldOut:
    """The outcome of the walk: the test units and why it stopped where it did."""

    test_ids: set[str] = field(default_factory=set)
    commits: list[HeldOutCommit] = field(default_factory=list)
    skipped: list[HeldOutCommit] = field(default_factory=list)  # walked past: they changed no code unit
    completion_units: int = 0  # completion-eligible units in the test set (what min_test_units counts)
    completion_total: int = 0  # completion-eligible units in the whole commit
    reason: str = "enough"  # enough | history | bound | train_share


def select_held_out(
    repo_root: Path, commit: str, units: Sequence[Chunk], min_commits: int, min_units: int, max_commits: int
) -> HeldOut:
    """Walk first-parent history back from `commit` and pick the held-out commits and test units."""
    index = _UnitIndex(units)
    eligible = {c.id for c in units if completion_example(c) is not None}
    out = HeldOut(completion_total=len(eligible))
    limit = max(max_commits, min_commits)  # the minimum asked for wins over a smaller bound
    log = _first_parent_log(repo_root, commit, limit) if min_commits or min_units else []
    for k, entry in enumerate(log):
        if len(out.commits) >= min_commits and out.completion_units >= min_units:
            return out
        if entry.parent is None:  # the root commit adds everything: holding it out leaves nothing to train
            out.reason = "history"
            return out
        touched = index.touched(_touched_lines(repo_root, commit, entry, k == 0, index.paths))
        if not touched & index.code_ids:
            out.skipped.append(HeldOutCommit(sha=entry.sha, subject=entry.subject, units=len(touched)))
            continue
        grown = len((out.test_ids | touched) & eligible)
        if out.commits and grown > MAX_TEST_SHARE * len(eligible):
            out.reason = "train_share"  # the first code commit is always held out: validation needs it
            return out
        out.test_ids |= touched
        out.completion_units = grown
        out.commits.append(HeldOutCommit(sha=entry.sha, subject=entry.subject, units=len(touched)))
    if len(out.commits) < min_commits or out.completion_units < min_units:
        out.reason = "bound" if len(log) == limit else "history"
    return out


def assign_split(chunk: Chunk, test_ids: set[str], valid_fraction: float, seed: int) -> str:
    """ "test" for units touched by the held-out commits; else "valid" or "train" by a stable seeded hash."""
    if chunk.id in test_ids:
        return "test"
    digest = hashlib.sha256(f"{seed}\0{chunk.path}\0{chunk.symbol}".encode("utf-8", "surrogatepass")).digest()
    return "valid" if int.from_bytes(digest[:8], "big") / 2**64 < valid_fraction else "train"


class _UnitIndex:
    """The mined commit's units by path, to find the ones a set of line ranges touches."""

    def __init__(self, units: Iterable[Chunk]) -> None:
        self.by_path: dict[str, list[Chunk]] = {}
        for chunk in units:
            self.by_path.setdefault(chunk.path, []).append(chunk)
        self.paths = set(self.by_path)
        self.code_ids = {c.id for c in units if c.kind in CODE_KINDS}

    def touched(self, lines: dict[str, list[tuple[int, int]]]) -> set[str]:
        return {
            c.id
            for path, ranges in lines.items()
            for c in self.by_path.get(path, ())
            if any(s <= c.end_line and e >= c.start_line for s, e in ranges)
        }


def _first_parent_log(repo_root: Path, commit: str, limit: int) -> list[_Logged]:
    """The last `limit` first-parent commits with the paths each changed (merges: against the first parent)."""
    proc = _git(
        repo_root,
        "log",
        "--first-parent",
        "--diff-merges=first-parent",
        "--no-renames",
        "--name-only",
        "-z",
        "--format=%x01%H%x02%P%x02%s",
        f"-n{limit}",
        commit,
        "--",
    )
    log: list[_Logged] = []
    for record in proc.split(b"\x01")[1:]:
        header, _, rest = record.partition(b"\0")
        sha, parents, subject = header.decode("utf-8", "replace").split("\x02", 2)
        paths = [p.decode("utf-8", "surrogateescape") for p in rest.lstrip(b"\n").split(b"\0") if p]
        log.append(_Logged(sha, parents.split()[0] if parents else None, subject, paths))
    return log


def _touched_lines(
    repo_root: Path, target: str, entry: _Logged, is_target: bool, unit_paths: set[str]
) -> dict[str, list[tuple[int, int]]]:
    """Lines of `target` (1-based, inclusive) that `entry`'s own changes landed on.

    The commit's diff gives lines in its own coordinates; the diff from it to the target maps them to the
    target's lines (what the units are measured in). Only paths that have units at the target matter.
    """
    paths = [p for p in entry.paths if p in unit_paths]
    if not paths or entry.parent is None:
        return {}
    own = _diff_hunks(repo_root, entry.parent, entry.sha, paths)
    later = {} if is_target else _diff_hunks(repo_root, entry.sha, target, paths)
    lines: dict[str, list[tuple[int, int]]] = {}
    for path, hunks in own.items():
        moved = later.get(path, [])
        for _, _, start, length in hunks:
            # A pure deletion (length 0) still touches the unit around where it happened.
            s, e = (start, start + length - 1) if length else (max(start, 1), max(start, 1))
            lines.setdefault(path, []).append((_map_line(s, moved)[0], _map_line(e, moved)[1]))
    return lines


def _map_line(line: int, hunks: list[Hunk]) -> tuple[int, int]:
    """Where an old-side line lies on the new side of a -U0 diff (a changed line maps to its whole hunk)."""
    offset = 0
    for old, old_len, new, new_len in hunks:  # git lists hunks in order
        if old_len and old <= line < old + old_len:
            return (new, new + new_len - 1) if new_len else (max(new, 1), max(new, 1))
        # In -U0 headers an empty side names the line before the change, so what follows starts one later.
        old_next, new_next = old + (old_len or 1), new + (new_len or 1)
        if line < old_next:
            break
        offset = new_next - old_next
    return line + offset, line + offset


def _diff_hunks(repo_root: Path, old: str, new: str, paths: list[str]) -> Hunks:
    pathspec = paths if len(paths) <= _MAX_PATHSPECS else []
    out = _git(repo_root, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", old, new, "--", *pathspec)
    hunks: Hunks = {}
    path: str | None = None
    in_header = False  # a removed "-- x" line reads "--- x": headers are only parsed before the first hunk
    for line in out.split(b"\n"):
        if line.startswith(b"diff --git "):
            path, in_header = None, True
        elif in_header and line.startswith(b"+++ "):
            path = _diff_path(line[4:])  # None for a deleted file: nothing of it is left to touch
        elif line.startswith(b"@@"):
            in_header = False
            match = _HUNK.match(line)
            if match and path:
                o, ol, n, nl = match.groups()
                hunks.setdefault(path, []).append(
                    (int(o), 1 if ol is None else int(ol), int(n), 1 if nl is None else int(nl))
                )
    return hunks


def _diff_path(raw: bytes) -> str | None:
    """The path of a `+++ b/<path>` header: git quotes odd names and tabs-terminates names with spaces."""
    raw = raw.rstrip(b"\t")
    if raw.startswith(b'"') and raw.endswith(b'"'):
        raw = codecs.escape_decode(raw[1:-1])[0]
    return raw[2:].decode("utf-8", "surrogateescape") if raw.startswith(b"b/") else None


def _git(repo_root: Path, *args: str) -> bytes:
    proc = subprocess.run(
        ["git", "-c", "core.quotePath=false", "--literal-pathspecs", *args],
        cwd=repo_root,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RepoError(
            f"git {args[0]} failed while choosing the held-out commits: {proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout
