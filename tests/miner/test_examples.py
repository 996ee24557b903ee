"""miner/examples.py: completion, instruction, text and RAFT examples from real chunks."""

from __future__ import annotations

import random

from forge_mcp.miner.chunker import chunk_code
from forge_mcp.miner.examples import (
    BEGIN_QUOTE,
    END_QUOTE,
    completion_example,
    first_sentence,
    instruction_examples,
    raft_answer,
    raft_example,
    raft_question,
    text_example,
)
from forge_mcp.train.formatting import system_prompt

SRC = b'''def slugify(text):
    """Turn text into a lowercase slug for URLs. Spaces become dashes."""
    words = text.lower().split()
    return "-".join(words)


def short():
    return 1


def clamp(value, low, high):
    return max(low, min(high, value)) if low <= high else value


class Engine:
    """Runs the jobs in order."""

    def start(self, jobs):
        for job in jobs:
            job.run()
        return len(jobs)
'''


def _chunks() -> dict:
    return {c.symbol: c for c in chunk_code("app/util.py", SRC, "python")}


def test_completion_splits_after_the_docstring_and_skips_short_bodies() -> None:
    chunks = _chunks()
    slug = completion_example(chunks["slugify"])
    assert slug["prompt"].startswith(chunks["slugify"].header + "\ndef slugify(text):")
    assert slug["prompt"].endswith('Spaces become dashes."""')
    assert slug["completion"] == '\n    words = text.lower().split()\n    return "-".join(words)\n'
    assert completion_example(chunks["short"]) is None  # a body under MIN_BODY teaches nothing
    assert completion_example(chunks["clamp"])["prompt"].endswith("def clamp(value, low, high):")
    assert completion_example(chunks["Engine"]) is None  # classes are not completion units


def test_instruction_examples_explain_and_document() -> None:
    chunks = _chunks()
    explain, document = instruction_examples(chunks["slugify"], "shop")
    assert explain["messages"][0] == {"role": "system", "content": system_prompt("shop")}
    assert explain["messages"][1]["content"] == "What does the function `slugify` in `app/util.py` do?"
    assert explain["messages"][2]["content"].startswith("`slugify` (app/util.py, lines 1-4): Turn text into")
    assert "```python\ndef slugify(text):\n" in document["messages"][1]["content"]
    assert "Turn text" not in document["messages"][1]["content"]
    assert document["messages"][2]["content"] == "Turn text into a lowercase slug for URLs. Spaces become dashes."
    assert instruction_examples(chunks["clamp"], "shop") == []  # no docstring
    assert len(instruction_examples(chunks["Engine"], "shop")) >= 1
    assert text_example(chunks["short"]) == {"text": f"{chunks['short'].header}\ndef short():\n    return 1\n"}


def test_raft_questions_answers_and_distractors() -> None:
    chunks = _chunks()
    slug = chunks["slugify"]
    assert first_sentence("One. Two.") == "One." and first_sentence("a  b") == "a b"
    questions = {raft_question(slug, random.Random(seed)) for seed in range(20)}
    assert questions == {
        "Which function in this repository does the following: Turn text into a lowercase slug for URLs.",
        "Where is `slugify` defined in this repository, and what does it do?",
    }
    answer = raft_answer(slug)
    assert answer.startswith("##Reason: The function that matches is defined in `app/util.py` at lines 1-4: ")
    assert f"{BEGIN_QUOTE}def slugify(text):" in answer and END_QUOTE in answer
    assert answer.endswith("##Answer: `app/util.py::slugify`")
    others = [c for c in chunk_code("lib/other.py", b"def a():\n    return 1\n\n\ndef b():\n    return 2\n", "python")]
    with_oracle = raft_example(slug, [*chunks.values(), *others], 2, 1.0, random.Random(0), "shop")
    context = with_oracle["messages"][1]["content"]
    assert with_oracle["_oracle_included"] and context.count("<DOCUMENT>") == 3 and "def slugify" in context
    assert "def clamp" not in context  # distractors come from other files
    without = raft_example(slug, others, 2, 0.0, random.Random(0), "shop", question="Q?", answer="A.")
    assert not without["_oracle_included"] and "def slugify" not in without["messages"][1]["content"]
    assert without["messages"][1]["content"].endswith("Question: Q?") and without["messages"][2]["content"] == "A."
    hard = raft_example(slug, others, 1, 1.0, random.Random(0), "shop", neighbours=lambda c, n: [c, chunks["clamp"]])
    assert "def clamp" in hard["messages"][1]["content"]  # the retriever's near miss, never the oracle twice
    assert hard["messages"][1]["content"].count("def slugify") == 1
