"""One prompt format: the mask falls on a token boundary, and generation starts where training's prompt ended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forge_mcp.train.formatting import encode_example, messages_of, prompt_ids, strip_lead, system_prompt

# After a docstring the body starts with a newline and an indent: with ChatML's "assistant\n" that whitespace
# merges into one token, which a naive prompt/completion split hides inside the masked prompt.
EXAMPLE = {
    "prompt": '# src/shapes.py\ndef area(width, height):\n    """The area of a rectangle."""',
    "completion": "\n    return width * height\n",
}


def _tokenizer(folder: Path) -> Any:
    from mlx_lm.utils import load_tokenizer

    return load_tokenizer(folder)


@pytest.fixture(params=["tiny", "smollm2"])
def tokenizer(request: pytest.FixtureRequest, tiny_path: Path) -> Any:
    if request.param == "tiny":
        return _tokenizer(tiny_path)
    return _tokenizer(request.getfixturevalue("smollm2_dir"))


def test_the_mask_ends_on_a_token_boundary_and_the_body_keeps_its_first_newline(tokenizer: Any) -> None:
    system = system_prompt("shapes")
    encoded = encode_example(tokenizer, messages_of(EXAMPLE, system))
    completion = tokenizer.decode(encoded.completion_ids)
    # The whole body, its first newline and indent included, is in the trained (unmasked) part.
    assert "\n    return width * height\n" in completion
    prompt_text = tokenizer.decode(encoded.ids[: encoded.offset])
    assert prompt_text.endswith("assistant") and system in prompt_text
    assert "SmolLM" not in prompt_text  # our system prompt replaces the template's default one
    # Generation is prompted with exactly the tokens training masked, and expects the template's newline.
    ids, lead = prompt_ids(tokenizer, messages_of({"prompt": EXAMPLE["prompt"]}, system))
    assert ids == encoded.ids[: encoded.offset] and lead == "\n"
    assert strip_lead(completion, lead).startswith(EXAMPLE["completion"])


def test_a_naive_split_would_have_hidden_the_indent_in_the_prompt(smollm2_dir: Path) -> None:
    tokenizer = _tokenizer(smollm2_dir)
    messages = messages_of(EXAMPLE, system_prompt("shapes"))
    full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
    naive = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True, return_dict=False)
    # mlx-lm's own offset: the prompt's last token "\n" is not a prefix of the full sequence's tokens.
    assert full[: len(naive)] != naive
    encoded = encode_example(tokenizer, messages)
    assert tokenizer.decode(encoded.completion_ids[:1]).startswith("\n\n")


def test_chat_rows_and_a_template_that_trims_the_answer(tiny_path: Path) -> None:
    tokenizer = _tokenizer(tiny_path)
    row = {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "  indented answer"},
        ]
    }
    messages = messages_of(row, system_prompt("x"))
    assert [m["content"] for m in messages] == ["S", "Q", "  indented answer"]  # a row's own system prompt stays
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    encoded = encode_example(tokenizer, messages)
    assert "  indented answer" in tokenizer.decode(encoded.completion_ids)  # not trimmed away
    with pytest.raises(ValueError, match="assistant"):
        encode_example(tokenizer, messages[:-1])
