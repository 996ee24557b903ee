import subprocess
from pathlib import Path

import pytest

from forge_mcp.core.errors import RefNotFoundError
from forge_mcp.core.workspace import Workspace
from forge_mcp.monitor.changes import monitor


def _ws(path: Path, **monitor_cfg: object) -> Workspace:
    return Workspace.open(path, {"monitor": monitor_cfg} if monitor_cfg else None)


def test_repository_with_no_commits(make_repo) -> None:
    r = make_repo("empty")
    r.write("draft.py", "x = 1\n")
    report = monitor(_ws(r.path))
    assert report.head is None and report.branch == "main" and not report.detached
    assert report.commit_count == 0 and report.files == []
    assert report.working_tree.untracked == ["draft.py"]
    assert report.significance.significant is False
    assert "no commits" in report.significance.reasons[0]


def test_never_trained_compares_against_the_start_of_history(repo) -> None:
    report = monitor(_ws(repo.path))
    assert report.base is None and report.base_source == "none"
    assert report.commit_count == 2
    assert [c.subject for c in report.commits] == ["second", "first"]
    assert {f.path for f in report.files} == {"README.md", "src/app.py", "src/util.py"}
    assert report.files_by_status == {"added": 3}
    assert report.lines_added == 5 and report.lines_deleted == 0
    assert [t.name for t in report.new_tags] == ["v0.1"]
    assert report.significance.significant
    assert "no model has been trained on this repository yet" in report.significance.reasons


def test_changes_since_the_last_trained_commit(repo) -> None:
    ws = _ws(repo.path)
    ws.mark_trained(repo.git("rev-parse", "HEAD"), 0.0)
    repo.git("mv", "src/util.py", "src/helpers.py")
    repo.git("rm", "-q", "README.md")
    repo.commit("rework", {"src/app.py": "def main():\n    return 2\n"})
    report = monitor(ws)
    assert report.base_source == "last_trained" and report.commit_count == 1
    by_path = {f.path: f for f in report.files}
    assert by_path["src/helpers.py"].status == "renamed" and by_path["src/helpers.py"].old_path == "src/util.py"
    assert by_path["README.md"].status == "deleted"
    assert by_path["src/app.py"].status == "modified"
    assert report.new_tags == []
    assert report.significance.significant is False
    assert "3 file(s) changed in 1 commit(s), below the threshold of 10" in report.significance.reasons[0]


def test_threshold_is_configurable_and_counted_files_decide(repo) -> None:
    ws = _ws(repo.path, min_changed_files=3)
    ws.mark_trained(repo.git("rev-parse", "HEAD"), 0.0)
    repo.commit("many", {f"pkg/m{i}.py": f"X = {i}\n" for i in range(3)})
    report = monitor(ws)
    assert report.significance.significant
    assert report.significance.reasons == ["3 files changed (threshold 3)"]


def test_new_tag_is_significant_unless_configured_off(repo) -> None:
    ws = _ws(repo.path)
    ws.mark_trained(repo.git("rev-parse", "HEAD"), 0.0)
    repo.commit("release", {"CHANGES.md": "1.0\n"})
    repo.git("tag", "-a", "v1.0", "-m", "release 1.0")
    report = monitor(ws)
    assert [(t.name, t.commit) for t in report.new_tags] == [("v1.0", repo.git("rev-parse", "HEAD"))]
    assert report.significance.reasons == ["new tag(s): v1.0"]
    quiet = _ws(repo.path, new_tag_is_significant=False)
    assert monitor(quiet).significance.significant is False


def test_since_a_ref_and_bad_refs(repo) -> None:
    report = monitor(_ws(repo.path), since="v0.1")
    assert report.base_source == "since" and report.commit_count == 1
    assert [f.path for f in report.files] == ["src/util.py"]
    for bad in ("no-such-branch", "--output=/tmp/x", " "):
        with pytest.raises(RefNotFoundError):
            monitor(_ws(repo.path), since=bad)


def test_commit_list_is_capped_but_all_are_counted(repo) -> None:
    for i in range(7):
        repo.commit(f"c{i}")
    report = monitor(_ws(repo.path), max_commits=3)
    assert report.commit_count == 9 and len(report.commits) == 3
    assert report.commits[0].subject == "c6"


def test_detached_head(repo) -> None:
    first = repo.git("rev-list", "--max-parents=0", "HEAD")
    repo.git("checkout", "-q", first)
    report = monitor(_ws(repo.path))
    assert report.detached and report.branch is None and report.head == first
    assert report.commit_count == 1
    assert any("detached" in note for note in report.notes)


def test_shallow_clone_with_the_trained_commit_beyond_its_history(repo, tmp_path: Path) -> None:
    first = repo.git("rev-list", "--max-parents=0", "HEAD")
    for i in range(3):
        repo.commit(f"more {i}", {f"m{i}.py": "pass\n"})
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo.path}", str(clone)], check=True)
    ws = _ws(clone)
    ws.mark_trained(first, 0.0)
    report = monitor(ws)
    assert report.shallow
    assert report.base is None and report.commit_count == 2
    assert any("beyond the shallow clone" in note for note in report.notes)
    assert report.significance.significant
    assert any("no longer in the history" in r for r in report.significance.reasons)


def test_working_tree_states_and_odd_file_names(repo) -> None:
    repo.write("src/app.py", "changed\n")
    repo.write("staged file ü.py", "x\n")
    repo.git("add", "staged file ü.py")
    repo.write("new\tname.py", "x\n")
    tree = monitor(_ws(repo.path)).working_tree
    assert not tree.clean
    assert tree.staged == ["staged file ü.py"]
    assert tree.unstaged == ["src/app.py"]
    assert tree.untracked == ["new\tname.py"]


def test_merge_conflict_is_reported(repo) -> None:
    repo.git("checkout", "-q", "-b", "other")
    repo.commit("other side", {"src/app.py": "other\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main side", {"src/app.py": "mine\n"})
    subprocess.run(["git", "merge", "-q", "other"], cwd=repo.path, capture_output=True)
    assert monitor(_ws(repo.path)).working_tree.conflicted == ["src/app.py"]


def test_watcher_events_are_counted_since_the_last_training(repo) -> None:
    ws = _ws(repo.path)
    ws.store.add_events([("modified", "src/app.py", None)])
    report = monitor(ws)
    assert report.watcher_events == 1 and report.recent_events[0].path == "src/app.py"
    ws.mark_trained(repo.git("rev-parse", "HEAD"), 4_000_000_000.0)  # trained "after" that event
    assert monitor(ws).watcher_events == 0


def test_sha256_repository(tmp_path: Path) -> None:
    path = tmp_path / "sha256"
    subprocess.run(["git", "init", "-q", "--object-format=sha256", str(path)], check=True)
    (path / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=path, check=True)
    report = monitor(_ws(path))
    assert len(report.head or "") == 64 and [f.path for f in report.files] == ["a.py"]
