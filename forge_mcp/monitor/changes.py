"""`monitor_repo`: what changed since the last trained commit (or a given ref), and does it matter?

Pure functions over git (through GitPython's command wrapper): a handful of git calls, each bounded,
so a report on a large repository stays fast. Handles empty repositories, detached HEAD, shallow
clones and rewritten history.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Literal

import git
from pydantic import BaseModel, Field

from forge_mcp.core.errors import RefNotFoundError, RepoError, quoted
from forge_mcp.core.repo import check_ref, open_repo
from forge_mcp.core.workspace import Workspace
from forge_mcp.monitor.policy import ChangeSummary, assess

FileStatus = Literal["added", "modified", "deleted", "renamed", "copied", "type_changed"]

_STATUS_NAMES: dict[str, FileStatus] = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type_changed",
}


class CommitInfo(BaseModel):
    sha: str
    author: str
    date: str = Field(description="Author date, ISO 8601")
    subject: str


class FileChange(BaseModel):
    path: str
    status: FileStatus
    old_path: str | None = Field(None, description="Previous path for renames and copies")


class TagInfo(BaseModel):
    name: str
    commit: str


class WorkingTree(BaseModel):
    clean: bool
    staged: list[str] = Field(description="Paths with staged changes")
    unstaged: list[str] = Field(description="Tracked paths modified but not staged")
    untracked: list[str]
    conflicted: list[str]


class WatchEvent(BaseModel):
    time: str = Field(description="ISO 8601, UTC")
    kind: str = Field(description="created | modified | deleted | moved")
    path: str = Field(description="Path relative to the repository root")
    dest_path: str | None = None


class Significance(BaseModel):
    significant: bool = Field(description="True when the change is worth retraining on")
    reasons: list[str]


class MonitorReport(BaseModel):
    """Changes since the last trained commit (or `since`), the work tree, and a retrain verdict."""

    repo: str = Field(description="Absolute path of the repository root")
    head: str | None = Field(description="HEAD commit, or null in a repository with no commits")
    branch: str | None = Field(description="Current branch, or null when HEAD is detached")
    detached: bool
    shallow: bool
    base: str | None = Field(description="The commit compared against; null means the start of history")
    base_source: Literal["since", "last_trained", "none"]
    last_trained_commit: str | None
    notes: list[str] = Field(default_factory=list, description="Caveats about this report")
    commit_count: int
    commits: list[CommitInfo] = Field(description="Newest first, capped by monitor.max_commits_listed")
    files_changed: int
    files_by_status: dict[str, int]
    lines_added: int
    lines_deleted: int
    files: list[FileChange] = Field(description="Capped by monitor.max_files_listed")
    new_tags: list[TagInfo]
    working_tree: WorkingTree
    watcher_events: int = Field(description="Watcher events recorded since the last training (or ever)")
    recent_events: list[WatchEvent]
    significance: Significance


def monitor(ws: Workspace, since: str | None = None, max_commits: int | None = None) -> MonitorReport:
    """Build the report for the workspace's repository."""
    cfg = ws.config.monitor
    limit = cfg.max_commits_listed if max_commits is None else max_commits
    repo = open_repo(ws.repo_root)
    try:
        g = repo.git
        head, branch, detached, tree = _status(g)
        shallow = (Path(repo.git_dir) / "shallow").exists()
        notes: list[str] = []
        base, source, missing = _resolve_base(g, head, since, ws.last_trained_commit, shallow, notes)
        commits, count = _commits(g, head, base, limit) if head else ([], 0)
        files, by_status, added, deleted = _diff(g, head, base) if head else ([], {}, 0, 0)
        tags = _new_tags(g, head, base) if head else []
    except git.GitCommandError as exc:  # an unexpected git failure is still a clear, actionable error
        stderr = (exc.stderr or "").strip().removeprefix("stderr:").strip(" '\n")
        raise RepoError(f"git failed in {ws.repo_root}: {stderr or exc}") from exc
    finally:
        repo.close()
    if detached:
        notes.append("HEAD is detached: changes are measured up to the checked-out commit")
    events_since = ws.last_trained_at
    summary = ChangeSummary(
        has_commits=head is not None,
        trained_before=ws.last_trained_commit is not None,
        base_missing=missing,
        commit_count=count,
        files_changed=len(files),
        new_tags=tuple(t.name for t in tags),
    )
    significant, reasons = assess(summary, cfg)
    return MonitorReport(
        repo=str(ws.repo_root),
        head=head,
        branch=branch,
        detached=detached,
        shallow=shallow,
        base=base,
        base_source=source,
        last_trained_commit=ws.last_trained_commit,
        notes=notes,
        commit_count=count,
        commits=commits,
        files_changed=len(files),
        files_by_status=by_status,
        lines_added=added,
        lines_deleted=deleted,
        files=files[: cfg.max_files_listed],
        new_tags=tags,
        working_tree=tree,
        watcher_events=ws.store.count_events(events_since),
        recent_events=recent_events(ws, cfg.recent_events_listed),
        significance=Significance(significant=significant, reasons=reasons),
    )


def recent_events(ws: Workspace, limit: int) -> list[WatchEvent]:
    return [
        WatchEvent(
            time=dt.datetime.fromtimestamp(e.ts, dt.UTC).isoformat(timespec="milliseconds"),
            kind=e.kind,
            path=e.path,
            dest_path=e.dest_path,
        )
        for e in ws.store.recent_events(limit)
    ]


def _status(g: git.Git) -> tuple[str | None, str | None, bool, WorkingTree]:
    """HEAD, branch, detached and the work tree from one `git status --porcelain=v2 -z` call."""
    out = g.status("--porcelain=v2", "--branch", "-z", "--untracked-files=normal")
    head: str | None = None
    branch: str | None = None
    staged: list[str] = []
    unstaged: list[str] = []
    untracked: list[str] = []
    conflicted: list[str] = []
    entries = iter(out.split("\x00"))
    for entry in entries:
        if entry.startswith("# branch.oid "):
            oid = entry.split(" ", 2)[2]
            head = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            name = entry.split(" ", 2)[2]
            branch = None if name == "(detached)" else name
        elif entry.startswith(("1 ", "2 ")):
            fields = entry.split(" ", 8 if entry[0] == "1" else 9)
            xy, path = fields[1], fields[-1]
            if entry[0] == "2":
                next(entries, None)  # the rename's original path follows as its own entry
            if xy[0] != ".":
                staged.append(path)
            if xy[1] != ".":
                unstaged.append(path)
        elif entry.startswith("u "):
            conflicted.append(entry.split(" ", 10)[-1])
        elif entry.startswith("? "):
            untracked.append(entry[2:])
    clean = not (staged or unstaged or untracked or conflicted)
    tree = WorkingTree(clean=clean, staged=staged, unstaged=unstaged, untracked=untracked, conflicted=conflicted)
    return head, branch, branch is None and head is not None, tree


def _resolve_base(
    g: git.Git, head: str | None, since: str | None, trained: str | None, shallow: bool, notes: list[str]
) -> tuple[str | None, Literal["since", "last_trained", "none"], bool]:
    """(base commit, where it came from, whether the recorded base has gone missing)."""
    if since is not None:
        check_ref(since, "since")
        if head is None:
            raise RefNotFoundError(f"the repository has no commits, so {quoted(since)} cannot be resolved")
        sha = _rev_parse(g, since)
        if sha is None:
            raise RefNotFoundError(
                f"{quoted(since)} is not a commit, branch or tag in this repository"
                + (" (this is a shallow clone: it may lie beyond its history)" if shallow else "")
            )
        return sha, "since", False
    if trained is None:
        return None, "none", False
    if head is not None and _rev_parse(g, trained) is not None:
        return trained, "last_trained", False
    why = "beyond the shallow clone's history" if shallow else "missing (history rewritten?)"
    notes.append(f"the last trained commit {trained[:12]} is {why}: comparing against the start of history")
    return None, "none", True


def _rev_parse(g: git.Git, ref: str) -> str | None:
    try:
        return str(g.rev_parse("--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")).strip() or None
    except git.GitCommandError:
        return None


def _commits(g: git.Git, head: str, base: str | None, limit: int) -> tuple[list[CommitInfo], int]:
    span = f"{base}..{head}" if base else head
    count = int(g.rev_list("--count", span))
    if limit <= 0 or count == 0:
        return [], count
    out = g.log(f"-n{limit}", "--format=%H%x1f%an%x1f%aI%x1f%s%x1e", span)
    commits = []
    for record in out.split("\x1e"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) == 4:
            commits.append(CommitInfo(sha=parts[0], author=parts[1], date=parts[2], subject=parts[3]))
    return commits, count


def _diff(g: git.Git, head: str, base: str | None) -> tuple[list[FileChange], dict[str, int], int, int]:
    """Changed files (renames detected) and line totals between base (or the empty tree) and HEAD."""
    # The empty tree's id depends on the object format (SHA-1 or SHA-256): ask git for it.
    old = base or g.hash_object("-t", "tree", "--stdin", istream=subprocess.DEVNULL)
    out = g.diff("--name-status", "-z", "-M", "--no-color", old, head, "--")
    tokens = out.split("\x00")
    files: list[FileChange] = []
    by_status: dict[str, int] = {}
    i = 0
    while i < len(tokens) - 1:
        code = tokens[i]
        if not code:
            i += 1
            continue
        status = _STATUS_NAMES.get(code[0], "modified")
        if code[0] in "RC":
            files.append(FileChange(path=tokens[i + 2], status=status, old_path=tokens[i + 1]))
            i += 3
        else:
            files.append(FileChange(path=tokens[i + 1], status=status))
            i += 2
        by_status[status] = by_status.get(status, 0) + 1
    added = deleted = 0
    if files:
        for line in g.diff("--numstat", "-M", "--no-color", old, head, "--").splitlines():
            a, d, _ = (line.split("\t", 2) + ["", ""])[:3]
            added += int(a) if a.isdigit() else 0  # binary files show "-"
            deleted += int(d) if d.isdigit() else 0
    return files, by_status, added, deleted


def _new_tags(g: git.Git, head: str, base: str | None) -> list[TagInfo]:
    args = ["--merged", head, "--format=%(refname:strip=2)%1f%(objectname)%1f%(*objectname)"]
    if base:
        args[2:2] = ["--no-merged", base]
    tags = []
    for line in g.tag(*args).splitlines():
        name, obj, peeled = (line.split("\x1f") + ["", ""])[:3]
        if name:
            tags.append(TagInfo(name=name, commit=peeled or obj))
    return tags
