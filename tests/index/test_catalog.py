"""index/catalog.py: the index's files and chunks in the forge's real SQLite store."""

from __future__ import annotations

import pytest

from forge_mcp.core.workspace import Workspace
from forge_mcp.index.catalog import Catalog, FileState


def _chunk(cid: str, path: str, line: int = 1) -> dict:
    return {
        "id": cid,
        "path": path,
        "language": "python",
        "symbol": f"f_{cid}",
        "kind": "function",
        "start_line": line,
        "end_line": line + 1,
        "header": f"# {path}",
        "text": f"def f_{cid}():\n    pass\n",
    }


@pytest.fixture
def catalog(repo) -> Catalog:
    return Catalog(Workspace.open(repo.path).store)


def test_replace_records_files_and_chunks_and_forgets_the_old(catalog: Catalog) -> None:
    a, b = FileState("a.py", "h1", 10, 1, None), FileState("b.py", "h2", 20, 2, None)
    catalog.replace(["a.py", "b.py"], [a, b], [_chunk("1", "a.py", 5), _chunk("2", "a.py", 1), _chunk("3", "b.py")])
    assert catalog.files() == {"a.py": a, "b.py": b}
    assert catalog.chunk_ids() == {"1": "a.py", "2": "a.py", "3": "b.py"}
    assert catalog.chunk_ids(["b.py", "missing.py"]) == {"3": "b.py"}
    assert [r["id"] for r in catalog.rows()] == ["2", "1", "3"]  # by path, then line
    assert [r["id"] for r in catalog.rows(["3", "nope", "1"])] == ["3", "1"]  # in the order asked, unknown left out
    assert catalog.rows(["1"])[0] == _chunk("1", "a.py", 5)
    skipped = FileState("a.py", "h3", 11, 3, "too large")
    catalog.replace(["a.py"], [skipped], [])
    assert catalog.files()["a.py"] == skipped and catalog.chunk_ids() == {"3": "b.py"}


def test_touch_moves_mtime_and_size_only(catalog: Catalog) -> None:
    catalog.replace(["a.py"], [FileState("a.py", "h1", 10, 1, None)], [_chunk("1", "a.py")])
    catalog.touch([FileState("a.py", "ignored", 12, 99, "ignored")])
    assert catalog.files()["a.py"] == FileState("a.py", "h1", 12, 99, None)
    assert catalog.chunk_ids() == {"1": "a.py"}


def test_many_paths_are_batched_and_clear_empties_it(catalog: Catalog) -> None:
    paths = [f"m{i}.py" for i in range(1200)]  # more than SQLite's bound-parameter batches of 500
    files = [FileState(p, "h", 1, 1, None) for p in paths]
    catalog.replace(paths, files, [_chunk(str(i), p) for i, p in enumerate(paths)])
    assert len(catalog.chunk_ids(paths)) == 1200 and len(catalog.rows([str(i) for i in range(1200)])) == 1200
    catalog.replace(paths[:700], [], [])
    assert len(catalog.files()) == 500
    catalog.clear()
    assert catalog.files() == {} and catalog.chunk_ids() == {} and catalog.rows() == []
