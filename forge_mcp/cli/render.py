"""Human-readable rendering for the CLI (rich); never used by the server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from forge_mcp.monitor.changes import MonitorReport
from forge_mcp.train.jobs import run_info

if TYPE_CHECKING:
    from forge_mcp.core.workspace import Workspace
    from forge_mcp.miner.datasets import DatasetSummary
    from forge_mcp.train.jobs import RunInfo


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def render_report(report: MonitorReport) -> None:
    out = console()
    where = report.branch or f"detached at {report.head[:12] if report.head else '?'}"
    out.print(f"[bold]{report.repo}[/]  {where}" + ("  (shallow clone)" if report.shallow else ""))
    base = report.base[:12] if report.base else "the start of history"
    out.print(
        f"since {base} ({report.base_source.replace('_', ' ')}): {report.commit_count} commit(s), "
        f"{report.files_changed} file(s), +{report.lines_added}/-{report.lines_deleted} lines"
    )
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
    out.print(
        "work tree: clean"
        if tree.clean
        else f"work tree: {len(tree.staged)} staged, {len(tree.unstaged)} modified, "
        f"{len(tree.untracked)} untracked, {len(tree.conflicted)} conflicted"
    )
    out.print(f"watcher events since last training: {report.watcher_events}")
    verdict = "[bold green]significant[/]" if report.significance.significant else "[bold]not significant[/]"
    out.print(f"{verdict}: " + "; ".join(report.significance.reasons))


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar fed by the pipeline's (done, total, message) callback."""
    if not enabled:
        yield lambda done, total, message: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("[dim]{task.fields[message]}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=100, message="")

        def update(done: int, total: int, message: str) -> None:
            bar.update(task, completed=100 * done / max(total, 1), message=message[-60:])

        yield update


def render_dataset(summary: DatasetSummary) -> None:
    out = console()
    state = "reused" if summary.reused else "built"
    out.print(f"[bold]dataset {summary.dataset_id}[/] ({state}) at {summary.commit[:12]}: {summary.path}")
    files = summary.files
    out.print(
        f"files: {files['seen']} seen, {files['chunked']} chunked ({files['parsed']} parsed, "
        f"{files['reused']} from cache)"
    )
    if summary.skipped:
        out.print("skipped: " + ", ".join(f"{n} {reason}" for reason, n in summary.skipped.items()))
    out.print(
        "chunks: "
        + ", ".join(f"{n} {lang}" for lang, n in summary.chunks_by_language.items())
        + "  |  "
        + ", ".join(f"{n} {kind}" for kind, n in summary.chunks_by_kind.items())
    )
    secrets = sum(summary.secrets_redacted.values())
    out.print(
        f"secrets: {secrets} redacted in code, {summary.secret_files} secret file(s) excluded; "
        f"{summary.duplicates_removed} duplicate(s) removed"
    )
    table = Table("task", "train", "valid", "test", "~tokens", box=None, pad_edge=False)
    for task, counts in summary.splits.items():
        table.add_row(
            task,
            str(counts["train"]),
            str(counts["valid"]),
            str(counts["test"]),
            str(summary.tokens_estimate.get(task, 0)),
        )
    out.print(table)
    held = summary.held_out
    out.print(
        f"test set: {held.test_units} unit(s) touched by {summary.held_out_commits} code-changing commit(s)"
        + (f" ({held.skipped_commits} without code skipped)" if held.skipped_commits else "")
        + f"; generator: {summary.generator}"
    )
    for note in summary.notes:
        out.print(f"[yellow]note:[/] {note}")


def follow_run(ws: Workspace, run_id: str, poll: float = 0.5) -> RunInfo:
    """A live progress bar for a training run until it stops (Ctrl-C leaves the run going)."""

    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[figures]}"),
    )
    info = run_info(ws, run_id)
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("train", total=info.iters, figures="")
        while info.status in ("queued", "running"):
            figures = []
            if info.last_train_loss is not None:
                figures.append(f"loss {info.last_train_loss:.4f}")
            if info.last_val_loss is not None:
                figures.append(f"val {info.last_val_loss:.4f}")
            if info.tokens_per_second:
                figures.append(f"{info.tokens_per_second:,.0f} tok/s")
            if info.eta_seconds is not None:
                figures.append(f"ETA {info.eta_seconds:.0f}s")
            bar.update(task, completed=info.step, figures="  ".join(figures))
            time.sleep(poll)
            info = run_info(ws, run_id)
        bar.update(task, completed=info.step)
    return info
