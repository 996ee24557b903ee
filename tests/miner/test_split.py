"""The held-out test set: code-changing commits only, walked back until it is big enough, within bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forge_mcp.core.workspace import Workspace
from forge_mcp.miner.datasets import TASKS, DatasetSummary, build_dataset, dataset_id
from forge_mcp.miner.split import _map_line
from tests.conftest import GitRepo

DATA = "DATA = [\n" + "".join(f"    {i},\n" for i in range(3)) + "]\n\n\n"
GROWN = "DATA = [\n" + "".join(f"    {i},\n" for i in range(15)) + "]\n\n\n"  # 12 lines more, no code unit


def _fn(i: int, variant: int = 0) -> str:
    return (
        f'def f{i}(values):\n    """Sum the values times {i}."""\n    total = 0\n'
        f"    for v in values:\n        total += v * {i} + {variant}\n    return total\n\n\n"
    )


def _module(variants: dict[int, int], count: int, data: str = DATA) -> str:
    return data + "".join(_fn(i, variants.get(i, 0)) for i in range(count))


def _build(repo: GitRepo, **miner: Any) -> tuple[DatasetSummary, dict[str, str], Path]:
    summary = build_dataset(Workspace.open(repo.path, {"miner": miner} if miner else None))
    manifest = json.loads((Path(summary.path) / "manifest.json").read_text())
    return summary, {u["qualname"]: u["split"] for u in manifest["units"]}, Path(summary.path)


def _test_functions(split_of: dict[str, str]) -> set[str]:
    return {q.split("::")[1] for q, s in split_of.items() if s == "test" and q.startswith("app/a.py::f")}


def _text(ds: Path, split: str) -> str:
    return "".join((ds / t / f"{split}.jsonl").read_text() for t in TASKS if (ds / t / f"{split}.jsonl").exists())


def test_commits_that_change_no_code_are_skipped(make_repo) -> None:
    r = make_repo("bumps")
    r.commit(
        "initial",
        {
            "app/a.py": _module({}, 30),
            "requirements.txt": "requests==2.0\n",
            "README.md": "# Project\n\nIntro.\n\n## Usage\n\nRun it.\n",
        },
    )
    first = r.commit("fix f1 and f2", {"app/a.py": _module({1: 1, 2: 1}, 30)})
    second = r.commit("fix f3", {"app/a.py": _module({1: 1, 2: 1, 3: 1}, 30)})
    for n in range(3):
        r.commit(f"Bump requests to 2.{n + 1}", {"requirements.txt": f"requests==2.{n + 1}\n"})
        r.commit(f"docs: usage, take {n}", {"README.md": f"# Project\n\nIntro.\n\n## Usage\n\nRun it {n} times.\n"})
    summary, split_of, ds = _build(r)
    held = summary.held_out
    assert [c.sha for c in held.commits] == [second, first] and summary.held_out_commits == 2
    assert [c.subject for c in held.commits] == ["fix f3", "fix f1 and f2"] and held.commits[1].units == 2
    assert held.skipped_commits == 6 and held.reason == "history" and held.completion_units == 3
    assert _test_functions(split_of) == {"f1", "f2", "f3"} and held.test_units == 3
    assert all(s != "test" for q, s in split_of.items() if q.startswith("README.md"))
    assert any(
        n.startswith("skipped 6 commit(s) that changed no code unit") and "Bump requests to 2.3" in n
        for n in summary.notes
    )
    assert any("short of held_out_commits=5 and min_test_units=20" in n for n in summary.notes)
    # The held-out units never reach train or valid (bodies are unique by their `+ 1` variant).
    for split in ("train", "valid"):
        assert "v * 3 + 1" not in _text(ds, split) and "v * 1 + 1" not in _text(ds, split)
    assert "v * 3 + 1" in (ds / "completion" / "test.jsonl").read_text()


def _history_of_single_function_fixes(r: GitRepo) -> list[str]:
    """Commits that each fix one function (f1..f8); a code-free commit in between shifts every line by 12."""
    r.commit("initial", {"app/a.py": _module({}, 30)})
    shas, variants, data = [], {}, DATA
    for i in range(1, 9):
        if i == 5:
            data = GROWN
            r.commit("grow the data table", {"app/a.py": _module(variants, 30, data)})
        variants[i] = 1
        shas.append(r.commit(f"fix f{i}", {"app/a.py": _module(variants, 30, data)}))
    return shas


def test_goes_back_until_the_minimum_units_with_lines_mapped_to_the_commit(make_repo) -> None:
    r = make_repo("fixes")
    shas = _history_of_single_function_fixes(r)
    summary, split_of, _ = _build(r, held_out_commits=2, min_test_units=5)
    assert [c.sha for c in summary.held_out.commits] == shas[:3:-1] + [shas[3]]  # f8..f5, then f4
    assert summary.held_out.reason == "enough" and summary.held_out.skipped_commits == 1
    # f4 was fixed before 12 lines were inserted above it: its change is found at the unit's current lines.
    assert _test_functions(split_of) == {"f4", "f5", "f6", "f7", "f8"}
    assert not any("short of" in n for n in summary.notes)


def test_the_bound_stops_the_walk(make_repo) -> None:
    r = make_repo("bounded")
    shas = _history_of_single_function_fixes(r)
    summary, split_of, _ = _build(r, held_out_commits=2, max_held_out_commits=3)
    assert [c.sha for c in summary.held_out.commits] == shas[:4:-1] and summary.held_out.reason == "bound"
    assert _test_functions(split_of) == {"f6", "f7", "f8"}
    assert any("max_held_out_commits=3 commits were looked at" in n for n in summary.notes)


def test_half_of_the_units_stay_for_training(make_repo) -> None:
    r = make_repo("tiny")
    r.commit("initial", {"app/a.py": _module({}, 5)})
    for i in (1, 2, 3, 4):
        r.commit(f"fix f{i}", {"app/a.py": _module({j: 1 for j in range(1, i + 1)}, 5)})
    summary, split_of, _ = _build(r, held_out_commits=4, min_test_units=100)
    # 5 completion units: holding out a third would leave fewer than half of them to train on.
    assert summary.held_out.reason == "train_share" and _test_functions(split_of) == {"f3", "f4"}
    assert any("fewer than half of the 5 completion units" in n for n in summary.notes)
    assert summary.splits["completion"]["train"] + summary.splits["completion"]["valid"] == 3


def test_a_single_commit_repository_has_an_empty_test_set(make_repo) -> None:
    r = make_repo("single")
    r.commit("initial", {"app/a.py": _module({}, 3)})
    summary, split_of, _ = _build(r)
    assert summary.held_out_commits == 0 and summary.held_out.commits == [] and summary.held_out.reason == "history"
    assert "test" not in split_of.values() and summary.splits["completion"]["test"] == 0
    assert any("the root commit is never held out" in n for n in summary.notes)
    assert any(n.startswith("the test set is empty") for n in summary.notes)


def test_a_merge_counts_once_against_its_first_parent(make_repo) -> None:
    r = make_repo("merges")
    r.commit("initial", {"app/a.py": _module({}, 6)})
    r.git("checkout", "-q", "-b", "side")
    r.commit("side: fix f2", {"app/a.py": _module({2: 1}, 6)})
    r.commit("side: fix f2 again", {"app/a.py": _module({2: 2}, 6)})
    r.git("checkout", "-q", "main")
    r.git("merge", "-q", "--no-ff", "-m", "Merge side", "side")
    summary, split_of, _ = _build(r, held_out_commits=1, min_test_units=0)
    assert [c.subject for c in summary.held_out.commits] == ["Merge side"]
    assert _test_functions(split_of) == {"f2"}


def test_new_settings_change_the_dataset_id(make_repo) -> None:
    r = make_repo("ids")
    r.commit("initial", {"app/a.py": _module({}, 2)})
    commit = r.git("rev-parse", "HEAD")
    ids = {
        dataset_id(commit, Workspace.open(r.path, {"miner": m}))
        for m in ({}, {"min_test_units": 3}, {"max_held_out_commits": 10})
    }
    assert len(ids) == 3


def test_map_line_through_a_zero_context_diff() -> None:
    insert = [(3, 0, 4, 2)]  # two lines inserted after old line 3
    assert _map_line(3, insert) == (3, 3) and _map_line(4, insert) == (6, 6)
    delete = [(5, 2, 4, 0)]  # old lines 5-6 removed
    assert _map_line(5, delete) == (4, 4) and _map_line(7, delete) == (5, 5) and _map_line(2, delete) == (2, 2)
    replace = [(2, 1, 2, 3), (10, 1, 12, 1)]
    assert _map_line(2, replace) == (2, 4) and _map_line(3, replace) == (5, 5) and _map_line(11, replace) == (13, 13)
    assert _map_line(1, [(0, 0, 1, 5)]) == (6, 6)  # lines added at the top of the file
