"""Human-readable rendering for the CLI (rich); never used by the server."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from forge_mcp.monitor import MonitorReport


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def render_report(report: MonitorReport) -> None:
    out = console()
    where = report.branch or f"detached at {report.head[:12] if report.head else '?'}"
    out.print(f"[bold]{report.repo}[/]  {where}" + ("  (shallow clone)" if report.shallow else ""))
    base = report.base[:12] if report.base else "the start of history"
    out.print(f"since {base} ({report.base_source.replace('_', ' ')}): {report.commit_count} commit(s), "
              f"{report.files_changed} file(s), +{report.lines_added}/-{report.lines_deleted} lines")
    for note in report.notes:
        out.print(f"[yellow]note:[/] {note}")
    if report.commits:
        table = Table("commit", "date", "author", "subject", box=None, pad_edge=False)
        for c in report.commits[:10]:
            table.add_row(c.sha[:10], c.date[:10], c.author, c.subject)
        out.print(table)
        if report.commit_count > 10:
            out.print(f"[dim]... and {report.commit_count - 10} more[/]")
    if report.new_tags:
        out.print("new tags: " + ", ".join(t.name for t in report.new_tags))
    tree = report.working_tree
    out.print("work tree: clean" if tree.clean else
              f"work tree: {len(tree.staged)} staged, {len(tree.unstaged)} modified, "
              f"{len(tree.untracked)} untracked, {len(tree.conflicted)} conflicted")
    out.print(f"watcher events since last training: {report.watcher_events}")
    verdict = "[bold green]significant[/]" if report.significance.significant else "[bold]not significant[/]"
    out.print(f"{verdict}: " + "; ".join(report.significance.reasons))
