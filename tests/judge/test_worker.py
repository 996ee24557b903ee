"""judge.worker: greedy batched completions, reference losses and the worker's job/results files, on tiny."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.judge import worker
from forge_mcp.train.formatting import encode_example, messages_of
from forge_mcp.train.tiny import build_tiny_model

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def sub(a, b):\n    return a - b\n",
    "class Stack:\n    def push(self, x):\n        self.items.append(x)\n",
] * 20
EXAMPLES = [
    {"prompt": "def add(a, b):\n", "reference": "    return a + b\n", "language": "python"},
    {
        "prompt": "class Stack:\n    def push(self, x):\n",
        "reference": "        self.items.append(x)\n",
        "language": "python",
    },
    {"prompt": "function sub(a, b) {\n", "reference": "  return a - b;\n}\n", "language": "javascript"},
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("judge-worker") / "tiny", CORPUS)


@pytest.fixture(scope="module")
def loaded(tiny: Path) -> Iterator[tuple[Any, Any]]:
    import mlx.core as mx
    from mlx_lm import load

    mx.disable_compile()  # mx.compile builds C++ on first use: far longer than these tests
    model, tokenizer, *_ = load(str(tiny))
    model.eval()
    yield model, tokenizer
    mx.enable_compile()


def test_batched_completions_match_one_at_a_time(loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    done: list[int] = []
    batch = worker.generate_all(model, tokenizer, EXAMPLES, max_tokens=12, system=None, on_done=done.append)
    assert len(batch) == len(EXAMPLES) and done == [1, 2, 3]
    assert all(isinstance(text, str) and 0 <= n <= 12 for text, n in batch)
    singles = [worker.generate_all(model, tokenizer, [e], max_tokens=12, system=None)[0] for e in EXAMPLES]
    assert batch == singles


def test_reference_loss_covers_the_trained_completion_tokens(loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    example = EXAMPLES[0]
    total, count = worker.reference_loss(model, tokenizer, example, None)
    encoded = encode_example(
        tokenizer, messages_of({"prompt": example["prompt"], "completion": example["reference"]}, None)
    )
    assert count == len(encoded.ids) - encoded.offset > 0  # the completion, its end-of-turn token included
    assert 0 < total / count < 3 * math.log(tokenizer.vocab_size)
    with_system, _ = worker.reference_loss(model, tokenizer, example, "You write tidy Python.")
    assert with_system != total  # the system prompt is part of the context


def test_run_model_scores_every_example(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = worker.run_model({"label": "base", "model": str(tiny)}, EXAMPLES[:2], max_tokens=8)
    assert len(result["completions"]) == len(result["token_losses"]) == len(result["reference_tokens"]) == 2
    weights = result["reference_tokens"]
    mean = sum(loss * n for loss, n in zip(result["token_losses"], weights, strict=True)) / sum(weights)
    assert result["mean_token_loss"] == pytest.approx(mean)
    assert result["perplexity"] == pytest.approx(math.exp(mean))
    assert all(n <= 8 for n in result["generated_tokens"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["done"] for e in events] == [1, 2, 3, 4] and {e["total"] for e in events} == {4}
    assert {e["label"] for e in events} == {"base"}


def test_main_reads_the_job_and_writes_results(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = {
        "models": [{"label": "candidate", "model": str(tiny)}, {"label": "baseline", "model": str(tiny)}],
        "examples": EXAMPLES[:1],
        "max_tokens": 6,
        "system": None,
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    assert worker.main([str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results) == {"candidate", "baseline"}
    assert results["candidate"]["completions"] == results["baseline"]["completions"]  # same model, greedy
    assert results["candidate"]["token_losses"] == pytest.approx(results["baseline"]["token_losses"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1] == {"event": "done"} and sum(e.get("label") == "candidate" for e in lines) == 2
