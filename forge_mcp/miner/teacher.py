"""Teacher mode: a local Ollama model writes RAFT questions and reasoning for chunks.

Used only when a teacher model is named and the Ollama server answers; every answer is checked
(it must quote between the RAFT markers) and anything unusable falls back to the templated generator.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from forge_mcp.core.errors import ollama_failures
from forge_mcp.miner.chunker import Chunk
from forge_mcp.miner.examples import BEGIN_QUOTE, END_QUOTE

log = logging.getLogger(__name__)

_PROMPT = """Here is code from the {repo} repository, `{qualname}`:
```{language}
{text}
```
Write one question a developer of this repository might ask that this code answers (do not name the
function in the question), and an answer that reasons step by step, quotes the most relevant lines
exactly between {begin} and {end}, and ends with the line: ##Answer: `{qualname}`
Reply with JSON only: {{"question": "...", "answer": "..."}}"""


class Teacher:
    """An Ollama chat model used as the question/reasoning writer."""

    def __init__(self, model: str, host: str | None = None, client: Any = None, timeout: float = 120) -> None:
        import ollama

        self.model = model
        self.host = host or os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"
        self.client = client or ollama.Client(host=self.host, timeout=timeout)

    def available(self) -> bool:
        """True when the server answers and has the model (pulled)."""
        try:
            models = self.client.list().models
        except ollama_failures() as exc:  # unreachable, refused, bad answer: all mean "use the templates"
            log.info("teacher unavailable at %s: %s", self.host, exc)
            return False
        names = {m.model for m in models} | {str(m.model).split(":", 1)[0] for m in models}
        return self.model in names

    def write(self, chunk: Chunk, repo: str) -> tuple[str, str] | None:
        """(question, answer) for the chunk, or None when the teacher's reply is unusable."""
        prompt = _PROMPT.format(
            repo=repo,
            qualname=chunk.qualname,
            language=chunk.language,
            text=chunk.text,
            begin=BEGIN_QUOTE,
            end=END_QUOTE,
        )
        try:
            reply = self.client.chat(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                format="json",
                options={"temperature": 0.2},
            )
            data = json.loads(reply.message.content or "")
        except ollama_failures() as exc:  # includes a reply that is not the JSON asked for (ValueError)
            log.warning("teacher failed on %s: %s", chunk.qualname, exc)
            return None
        question, answer = str(data.get("question", "")).strip(), str(data.get("answer", "")).strip()
        if not question or BEGIN_QUOTE not in answer or END_QUOTE not in answer:
            return None
        if "##Answer:" not in answer:
            answer += f"\n##Answer: `{chunk.qualname}`"
        return question, answer


def teacher_for(ws: Any, model: str | None = None) -> Teacher | None:
    """The teacher named by the argument or the config ([miner] teacher_model), or None (templated)."""
    name = model or ws.config.miner.teacher_model
    return Teacher(name, ws.config.miner.ollama_host) if name else None
