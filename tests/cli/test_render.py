"""cli/render.py: the human renderings of a monitor report and a dataset summary, and the progress bar."""

from __future__ import annotations

from forge_mcp.cli.render import progress_bar, render_dataset, render_report
from forge_mcp.core.workspace import Workspace
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.monitor.changes import monitor


def test_render_report_of_a_fresh_and_a_dirty_repository(repo, capsys) -> None:
    ws = Workspace.open(repo.path)
    render_report(monitor(ws))
    out = capsys.readouterr().out
    assert f"{repo.path.resolve()}  main" in out.splitlines()[0]
    assert "since the start of history (none): 2 commit(s), 3 file(s)" in out
    assert "second" in out and "first" in out and "new tags: v0.1" in out and "work tree: clean" in out
    assert "watcher events since last training: 0" in out
    repo.write("src/app.py", "def main():\n    return 2\n")
    repo.write("new.py", "x = 1\n")
    render_report(monitor(ws, since="v0.1"))
    out = capsys.readouterr().out
    assert "(since): 1 commit(s)" in out and "work tree: 0 staged, 1 modified, 1 untracked, 0 conflicted" in out


def test_render_report_lists_ten_commits_and_counts_the_rest(make_repo, capsys) -> None:
    many = make_repo("many")
    for i in range(12):
        many.commit(f"commit number {i}", {f"f{i}.py": f"x = {i}\n"})
    render_report(monitor(Workspace.open(many.path)))
    out = capsys.readouterr().out
    assert "commit number 11" in out and "commit number 2" in out and "commit number 1\n" not in out
    assert "... and 2 more" in out


def test_render_dataset(repo, capsys) -> None:
    summary = build_dataset(Workspace.open(repo.path))
    render_dataset(summary)
    out = capsys.readouterr().out
    assert out.startswith(f"dataset {summary.dataset_id} (built) at {summary.commit[:12]}: ")
    assert f"files: {summary.files['seen']} seen" in out and "secrets: 0 redacted in code" in out
    assert all(task in out for task in summary.splits) and f"generator: {summary.generator}" in out


def test_progress_bar_takes_the_pipeline_callback(capsys) -> None:
    with progress_bar("quiet", enabled=False) as update:
        update(1, 2, "half")
    with progress_bar("shown") as update:
        update(0, 0, "nothing to do")  # total 0 must not divide by zero
        update(3, 4, "x" * 200)
    assert capsys.readouterr().out == ""  # the bar is drawn on stderr: stdout stays for results
