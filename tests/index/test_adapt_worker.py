"""index.adapt_worker: the contrastive fine-tune of MiniLM from a job folder, its progress lines and published model."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.index import adapt_worker
from forge_mcp.index.embeddings import MiniLMEmbedder, minilm_path

PAIRS = [
    {"query": "add two numbers", "document": "def add(a, b):\n    return a + b\n"},
    {"query": "subtract b from a", "document": "def sub(a, b):\n    return a - b\n", "negative": "def add(a, b): ..."},
    {"query": "push onto the stack", "document": "class Stack:\n    def push(self, x): ...\n"},
    {"query": "greet someone by name", "document": "def greet(name):\n    return f'hello {name}'\n"},
    {"query": "charge a credit card", "document": "def charge(card, amount):\n    return gateway.charge(card)\n"},
    {"query": "refund a payment", "document": "def refund(payment_id):\n    return gateway.refund(payment_id)\n"},
]


@pytest.fixture(autouse=True)
def _torch_threads() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()  # the worker sets the thread count for its whole process
    yield
    torch.set_num_threads(threads)


def job_dir(tmp_path: Path, **settings: Any) -> Path:
    job = tmp_path / "job"
    job.mkdir()
    spec = {"epochs": 2, "max_seq_length": 16, "batch_size": 2, "learning_rate": 1e-4, "budget_seconds": 600}
    spec |= {"seed": 0, "pairs": len(PAIRS), "base_path": str(minilm_path())} | settings
    (job / "job.json").write_text(json.dumps(spec), encoding="utf-8")
    (job / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PAIRS), encoding="utf-8")
    return job


def events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]  # stdout holds JSON lines only


def test_triplets_use_mined_negatives_or_another_pairs_document() -> None:
    triplets = adapt_worker._triplets(PAIRS, random.Random(0))
    assert [(q, d) for q, d, _ in triplets] == [(p["query"], p["document"]) for p in PAIRS]
    assert triplets[1][2] == "def add(a, b): ..."
    documents = {p["document"] for p in PAIRS}
    assert all(n in documents and n != d for _, d, n in triplets[:1] + triplets[2:])
    assert adapt_worker._triplets(PAIRS[:1], random.Random(0)) == [(PAIRS[0]["query"], PAIRS[0]["document"], "")]


def test_a_job_trains_and_publishes_its_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], minilm: MiniLMEmbedder
) -> None:
    job = job_dir(tmp_path, batch_size=3)  # 6 pairs, 2 epochs: 4 steps, reported at the last (else every 5)
    assert adapt_worker.main(["adapt_worker", str(job)]) == 0
    lines = events(capsys.readouterr().out)
    assert [e["event"] for e in lines] == ["step", "done"]
    assert (lines[0]["step"], lines[0]["steps"], lines[0]["epoch"]) == (4, 4, 2) and lines[0]["loss"] > 0
    result = json.loads((job / "result.json").read_text())
    assert result == {k: v for k, v in lines[-1].items() if k != "event"}
    assert (result["steps"], result["planned_steps"], result["epochs_done"]) == (4, 4, 2.0)
    assert result["stopped_by_budget"] is False and result["first_loss"] > 0 and result["final_loss"] > 0
    assert (job / "pid").read_text() == str(os.getpid()) and (job / "started").read_text() == "4"
    assert (job / "model" / "config.json").is_file() and not (job / "model.tmp").exists()
    adapted = MiniLMEmbedder(path=job / "model").embed_query("add two numbers")
    stock = minilm.embed_query("add two numbers")
    assert len(adapted) == len(stock) == 384 and adapted != stock  # trained: the embedding moved


def test_an_exhausted_budget_stops_before_the_first_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = job_dir(tmp_path, budget_seconds=0, epochs=1)
    assert adapt_worker.main(["adapt_worker", str(job)]) == 0
    [done] = events(capsys.readouterr().out)
    assert done["event"] == "done" and done["steps"] == 0 and done["planned_steps"] == 3
    assert done["stopped_by_budget"] is True and done["first_loss"] is None and done["final_loss"] is None
    assert (job / "model" / "config.json").is_file()  # the (unchanged) model is still published whole
