"""One prompt format for training, generation and perplexity, cut on a token boundary.

A chat template ends its generation prompt with whitespace (ChatML: `<|im_start|>assistant\\n`). A code
body that starts with a newline and an indent then merges with it into one token (`ĊĊĠĠĠ`) that would
fall inside the masked prompt: the model would never learn the body's first newline and indent, and a
generation prompt would end on a token that training never saw. So the prompt is cut before that
trailing whitespace, where every byte-level BPE splits, and the whitespace belongs to the completion.
Training, the judge's generation and its reference loss all use `encode_example` / `prompt_ids`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Message = dict[str, str]
_HOLE = "\x00forge-answer\x00"


def system_prompt(repo: str) -> str:
    """The forge's own system prompt: the same in training, validation and the deployed model."""
    return f"You are a coding assistant that knows the {repo} repository: its code, style and APIs."


@dataclass(frozen=True)
class Encoded:
    """Token ids of a whole example; ids[:offset] are the prompt (masked in training)."""

    ids: list[int]
    offset: int

    @property
    def completion_ids(self) -> list[int]:
        return self.ids[self.offset :]


def messages_of(example: dict[str, Any], system: str | None) -> list[Message]:
    """The chat of a dataset row: `{"prompt", "completion"}` or `{"messages": [...]}`, with our system
    prompt first unless the row has one (a template's own default system prompt is never used)."""
    if "messages" in example:
        messages = [dict(m) for m in example["messages"]]
    else:
        messages = [{"role": "user", "content": example["prompt"]}]
        if example.get("completion") is not None:
            messages.append({"role": "assistant", "content": example["completion"]})
    if system and messages[0].get("role") != "system":
        messages.insert(0, {"role": "system", "content": system})
    return messages


def _render(tokenizer: Any, messages: list[Message], generation: bool) -> str:
    return str(tokenizer.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False))


def _encode(tokenizer: Any, text: str) -> list[int]:
    # The rendered template already holds any BOS it wants: add no special tokens of our own.
    return list(tokenizer.encode(text, add_special_tokens=False))


def split_prompt(tokenizer: Any, context: list[Message]) -> tuple[str, str]:
    """(prompt text up to the boundary, the template's trailing whitespace that starts the completion)."""
    rendered = _render(tokenizer, context, generation=True)
    cut = len(rendered.rstrip())
    return rendered[:cut], rendered[cut:]


def prompt_ids(tokenizer: Any, context: list[Message]) -> tuple[list[int], str]:
    """The generation prompt's tokens and the text the model is expected to write before the completion."""
    text, lead = split_prompt(tokenizer, context)
    return _encode(tokenizer, text), lead


def encode_example(tokenizer: Any, messages: list[Message]) -> Encoded:
    """Tokens of a chat whose last message is the answer, with the prompt boundary on a token boundary."""
    if messages[-1].get("role") != "assistant":
        raise ValueError("the last message of a training example must be the assistant's")
    prompt, _ = split_prompt(tokenizer, messages[:-1])
    # Rendered around a placeholder: some templates trim the answer (Llama 3), which would drop a body's indent.
    answer = messages[-1]["content"]
    full = _render(tokenizer, [*messages[:-1], {"role": "assistant", "content": _HOLE}], generation=False)
    full = full.replace(_HOLE, answer, 1) if _HOLE in full else _render(tokenizer, messages, generation=False)
    if not full.startswith(prompt):
        # A template that renders history differently from a generation prompt: fall back to its full text.
        ids = _encode(tokenizer, full)
        return Encoded(ids, min(len(_encode(tokenizer, prompt)), len(ids)))
    head = _encode(tokenizer, prompt)
    return Encoded(head + _encode(tokenizer, full[len(prompt) :]), len(head))


def strip_lead(text: str, lead: str) -> str:
    """A generated completion without the template's trailing whitespace that `prompt_ids` left to it."""
    return text[len(lead) :] if lead and text.startswith(lead) else text
