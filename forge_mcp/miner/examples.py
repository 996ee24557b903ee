"""Training examples from chunks: code completion, instruction tasks, RAFT, and raw text.

All in mlx-lm's dataset formats: `{"prompt", "completion"}`, `{"messages": [...]}` and `{"text"}`.
Questions and answers are templated from the code itself (docstrings, signatures, names); a teacher
model can rewrite RAFT questions and reasoning (see teacher.py).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from forge_mcp.miner.chunker import Chunk, nws
from forge_mcp.train.formatting import system_prompt

BEGIN_QUOTE, END_QUOTE = "##begin_quote##", "##end_quote##"
UNIT_KINDS = {"function", "method"}
MIN_BODY = 20  # non-whitespace characters: shorter bodies teach nothing
FORMAT_VERSION = 2  # bump when examples change shape: it is part of every dataset id
Example = dict[str, Any]
Neighbours = Callable[[Chunk, int], list[Chunk]]


def first_sentence(doc: str) -> str:
    text = " ".join(doc.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text)[:300]


def completion_example(chunk: Chunk) -> Example | None:
    """Signature + docstring (or the unit's prefix) -> the body."""
    if chunk.kind not in UNIT_KINDS or chunk.signature_end is None or chunk.parts > 1:
        return None
    head, body = chunk.text[: chunk.signature_end], chunk.text[chunk.signature_end :].rstrip() + "\n"
    if nws(body.encode(), 0, len(body.encode())) < MIN_BODY:
        return None
    # Every body starts on its own line with its indent, and every prompt ends at the signature or docstring:
    # a prompt that ended in the first line's indent would teach a body that starts at column 0.
    cut = head.rstrip(" \t")
    if cut.endswith("\n") and cut.strip():
        head, body = cut[:-1], "\n" + head[len(cut) :] + body
    return {"prompt": f"{chunk.header}\n{head}", "completion": body}


def instruction_examples(chunk: Chunk, repo: str) -> list[Example]:
    """Explain a unit from its docstring; write the docstring for its undocumented code."""
    doc = (chunk.docstring or "").strip()
    if chunk.kind not in UNIT_KINDS | {"class", "type"} or len(doc.split()) < 3 or chunk.part != 1:
        return []
    lang = chunk.language
    what = "class" if chunk.kind == "class" else chunk.kind
    system = {"role": "system", "content": system_prompt(repo)}
    explain = [
        system,
        {"role": "user", "content": f"What does the {what} `{chunk.symbol}` in `{chunk.path}` do?"},
        {
            "role": "assistant",
            "content": f"`{chunk.symbol}` ({chunk.path}, lines {chunk.start_line}-{chunk.end_line}): {doc}",
        },
    ]
    out = [{"messages": explain}]
    if chunk.doc_span is not None:
        s, e = chunk.doc_span
        code = (chunk.text[:s] + chunk.text[e:]).strip("\n").rstrip()
        document = [
            system,
            {
                "role": "user",
                "content": f"Write the documentation for this {what} from `{chunk.path}`:\n```{lang}\n{code}\n```",
            },
            {"role": "assistant", "content": doc},
        ]
        out.append({"messages": document})
    return out


def text_example(chunk: Chunk) -> Example:
    return {"text": f"{chunk.header}\n{chunk.text.rstrip()}\n"}


def raft_question(chunk: Chunk, rng: random.Random) -> str:
    doc = (chunk.docstring or "").strip()
    name = chunk.symbol.rsplit(".", 1)[-1]
    if doc and rng.random() < 0.7:
        return f"Which {chunk.kind} in this repository does the following: {first_sentence(doc)}"
    return f"Where is `{name}` defined in this repository, and what does it do?"


def raft_answer(chunk: Chunk) -> str:
    """Chain of thought quoting the oracle, then the answer naming path::qualname."""
    lines = chunk.text[chunk.doc_span[1] if chunk.doc_span and chunk.doc_span[0] == 0 else 0 :].strip("\n").splitlines()
    quote = "\n".join(lines[: min(len(lines), 3)])
    doc = first_sentence(chunk.docstring) if chunk.docstring else ""
    reason = (
        f"The {chunk.kind} that matches is defined in `{chunk.path}` at lines {chunk.start_line}-"
        f"{chunk.end_line}: {BEGIN_QUOTE}{quote}{END_QUOTE}"
    )
    if doc:
        reason += f" Its documentation says: {doc}"
    return f"##Reason: {reason}\n##Answer: `{chunk.qualname}`"


def raft_example(
    oracle: Chunk,
    pool: Sequence[Chunk],
    k: int,
    p_oracle: float,
    rng: random.Random,
    repo: str,
    neighbours: Neighbours | None = None,
    question: str | None = None,
    answer: str | None = None,
) -> Example:
    """A question, the oracle plus k distractors (shuffled; the oracle left out with probability 1-P)."""
    distractors: list[Chunk] = []
    if neighbours is not None:  # hard negatives from the retriever
        distractors = [c for c in neighbours(oracle, k + 1) if c.id != oracle.id][:k]
    candidates = [c for c in pool if c.id != oracle.id and c.path != oracle.path]
    while len(distractors) < k and candidates:
        pick = candidates.pop(rng.randrange(len(candidates)))
        if all(pick.id != d.id for d in distractors):
            distractors.append(pick)
    with_oracle = rng.random() < p_oracle
    documents = distractors + ([oracle] if with_oracle else [])
    rng.shuffle(documents)
    context = "\n".join(f"<DOCUMENT>{d.header}\n{d.text.rstrip()}</DOCUMENT>" for d in documents)
    messages = [
        {"role": "system", "content": system_prompt(repo)},
        {"role": "user", "content": f"{context}\n\nQuestion: {question or raft_question(oracle, rng)}"},
        {"role": "assistant", "content": answer or raft_answer(oracle)},
    ]
    return {"messages": messages, "_oracle_included": with_oracle}
