"""Adapting the embedder to a real small repository: pairs, the worker, the switch, a kill, bad settings."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from forge_mcp.core.errors import AdaptError, ConfigError
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.active import EMBEDDER_KEY
from forge_mcp.index.adapt import adapt_index, repository_pairs
from forge_mcp.index.embeddings import is_adapted
from forge_mcp.index.rag import RagIndex
from tests.conftest import GitRepo, wait_until

VERBS = [
    "parse",
    "render",
    "store",
    "fetch",
    "merge",
    "split",
    "count",
    "check",
    "build",
    "clean",
    "send",
    "load",
    "sort",
    "scale",
    "print",
    "hash",
    "crop",
    "wrap",
    "join",
    "trim",
]
NOUNS = ["invoice", "header", "token", "image", "record", "ledger", "packet", "column"]
FAST = {"index": {"adapt_budget_minutes": 2, "adapt_epochs": 1, "adapt_max_seq_length": 64, "adapt_batch_size": 8}}


def _code(n: int) -> str:
    verb, noun = VERBS[n % len(VERBS)], NOUNS[n % len(NOUNS)]
    return (
        f"def {verb}_{noun}_{n}(value, limit={n}):\n"
        f'    """{verb.capitalize()} the {noun} given, at most {n} times, and return what is left."""\n'
        f"    result = [{verb}_step(item) for item in value[:limit]]\n"
        f"    return {noun}_table(result) + {n}\n\n\n"
    )


@pytest.fixture
def small_repo(make_repo) -> GitRepo:
    repo = make_repo("shop")
    repo.commit(
        "code",
        {f"pkg/mod_{i}.py": "".join(_code(i * 6 + j) for j in range(6)) for i in range(5)}
        | {"docs/guide.md": "# Guide\n\n## Charging a card\n\nCards are charged through the gateway.\n"},
    )
    return repo


def _index(repo: GitRepo, minilm, **cfg: object) -> RagIndex:
    ws = Workspace.open(repo.path, {"index": FAST["index"] | cfg})
    index = RagIndex(ws)
    index.sync()
    return index


def test_pairs_come_from_docstrings_and_headings(small_repo: GitRepo) -> None:
    pairs = repository_pairs(Workspace.open(small_repo.path), signatures=False)
    sources = {p.source for p in pairs}
    assert len(pairs) == 31 and sources == {"docstring", "heading"}
    one = next(p for p in pairs if p.symbol == "parse_invoice_0")
    assert one.query == "Parse the invoice given, at most 0 times, and return what is left."
    assert "Parse the invoice" not in one.document and "def parse_invoice_0" in one.document


def test_adaptation_runs_in_a_worker_switches_the_index_and_changes_rankings(small_repo: GitRepo, minilm) -> None:
    index = _index(small_repo, minilm)
    query = "Trim the ledger given, at most 19 times, and return what is left."
    before = [(h.symbol, round(h.score, 5)) for h in index.search(query, k=5, mode="dense")]
    report = adapt_index(index)
    assert is_adapted(report.embedder) and report.previous == "minilm-l6-v2" and not report.reused
    assert report.train["steps"] >= 1 and report.pairs == 31 and report.reembedded == len(index.catalog.chunk_ids())
    assert index.embedder.name == report.embedder == index.ws.store.get_meta(EMBEDDER_KEY)
    assert index.vectors.collection.metadata["embedder"] == report.embedder  # the collection says who made it
    assert len(index.vectors.ids()) == len(index.catalog.chunk_ids())  # re-embedded whole, not mixed
    assert [(h.symbol, round(h.score, 5)) for h in index.search(query, k=5, mode="dense")] != before
    names = [p.name for p in index.vectors.client.list_collections()]
    assert len([n for n in names if "shop" in n]) == 1  # the stock vectors were dropped after the swap
    again = adapt_index(index)  # same pairs and settings: the model is reused
    assert again.reused and again.embedder == report.embedder
    small_repo.write(
        "pkg/mod_0.py",
        small_repo.path.joinpath("pkg/mod_0.py")
        .read_text()
        .replace("Parse the invoice given", "Parse each invoice given"),
    )  # 1 of 31 pairs changed: below adapt_min_change
    index.sync()
    assert adapt_index(index).reused
    index.ws.config.index.adapt_min_change = 0.0
    assert not adapt_index(index).reused  # any change retrains when asked to


def test_reopening_keeps_the_adapted_embedder_and_turning_it_off_falls_back(small_repo: GitRepo, minilm) -> None:
    index = _index(small_repo, minilm, adapt=True)
    adapted = adapt_index(index).embedder
    reopened = RagIndex(Workspace.open(small_repo.path, {"index": FAST["index"] | {"adapt": True}}))
    assert reopened.embedder.name == adapted and reopened.switch_to is None
    stock = RagIndex(Workspace.open(small_repo.path, {"index": {"adapt": False}}))
    assert stock.embedder.name == adapted and stock.switch_to is not None  # serves the old until re-embedded
    assert stock.search("charge a card", k=3, mode="dense")
    report = stock.sync()
    assert report.embedder == "minilm-l6-v2" == stock.ws.store.get_meta(EMBEDDER_KEY)
    assert len(stock.vectors.ids()) == len(stock.catalog.chunk_ids())


def test_a_killed_adaptation_leaves_the_stock_index_serving(small_repo: GitRepo, minilm) -> None:
    index = _index(small_repo, minilm, adapt_epochs=20, adapt_budget_minutes=10)
    jobs = index.ws.embedders_dir
    pool = ThreadPoolExecutor(max_workers=1)
    adapting = pool.submit(adapt_index, index)  # the future keeps what the thread raised
    assert wait_until(lambda: any(jobs.glob(".*.job/pid")), timeout=120, interval=0.05)
    pid = int(next(jobs.glob(".*.job/pid")).read_text())
    assert wait_until(lambda: any(jobs.glob(".*.job/started")), timeout=120, interval=0.05)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(AdaptError, match="worker failed"):
        adapting.result(timeout=60)
    pool.shutdown()
    assert index.embedder.name == "minilm-l6-v2" == index.ws.store.get_meta(EMBEDDER_KEY)
    assert index.search("charge a card", k=3, mode="dense")
    assert not [p for p in jobs.iterdir() if not p.name.startswith(".")]  # no half model published


def test_bad_settings_get_clear_errors(small_repo: GitRepo, make_repo, minilm) -> None:
    with pytest.raises(ConfigError, match="adapt_budget_minutes"):
        Workspace.open(small_repo.path, {"index": {"adapt_budget_minutes": 0}})
    with pytest.raises(ConfigError, match="adapt_max_seq_length"):
        Workspace.open(small_repo.path, {"index": {"adapt_max_seq_length": 4096}})
    bare = make_repo("bare")
    bare.commit("one", {"a.py": "def f():\n    return 1\n"})
    index = RagIndex(Workspace.open(bare.path))
    index.sync()
    with pytest.raises(AdaptError, match="at least 16"):
        adapt_index(index)
    assert Path(index.ws.state_dir).is_dir()


def test_the_cycle_stage_adapts_or_says_why_not(small_repo: GitRepo, make_repo, minilm) -> None:
    from forge_mcp.cycle.params import CycleParams
    from forge_mcp.cycle.stages import index_stage

    ws = Workspace.open(small_repo.path, FAST)
    params = CycleParams.from_config(ws, adapt_embedder=True)
    status, summary = index_stage(ws, params, None, lambda *_: None, None)
    assert status == "done" and "embedder adapted: minilm-l6-v2+" in summary
    bare = make_repo("bare")
    bare.commit("one", {"a.py": "def f():\n    return 1\n"})
    ws = Workspace.open(bare.path)
    status, summary = index_stage(
        ws,
        CycleParams.from_config(ws, adapt_embedder=True),
        None,
        lambda *_: None,
        None,
    )
    assert status == "done" and "embedder not adapted: only 0 training pairs" in summary


def test_the_cli_indexes_and_adapts(small_repo: GitRepo, minilm, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from forge_mcp.cli.main import main

    for key, value in FAST["index"].items():
        monkeypatch.setenv(f"FORGE_INDEX__{key.upper()}", str(value))
    assert main(["index", "--repo", str(small_repo.path), "--adapt"]) == 0
    out = capsys.readouterr().out
    assert "chunks indexed with minilm-l6-v2" in out and "0 reused from a killed run" in out
    assert "embedder adapted: minilm-l6-v2+" in out and "31 pairs" in out


def test_the_plan_fits_the_budget() -> None:
    from forge_mcp.core.config import IndexConfig
    from forge_mcp.index.adapt import plan_adaptation

    roomy = plan_adaptation(300, [200] * 300, 4, IndexConfig(), cores=2)
    assert (roomy.epochs, roomy.max_seq_length, roomy.pairs, roomy.reasons) == (2, 128, 300, [])
    tight = plan_adaptation(3000, [200] * 3000, 4, IndexConfig(), cores=2)
    assert tight.epochs == 1 and tight.pairs < 3000 and tight.expected_seconds <= 240
    assert any("1 epoch" in r for r in tight.reasons) and any("pairs (sampled)" in r for r in tight.reasons)
    forced = plan_adaptation(300, [200] * 300, 4, IndexConfig(adapt_epochs=3, adapt_max_seq_length=256), cores=2)
    assert (forced.epochs, forced.max_seq_length) == (3, 256)
