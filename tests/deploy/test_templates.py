"""deploy/templates.py: the Ollama Go template and stops for a Hugging Face chat template."""

from __future__ import annotations

import pytest

from forge_mcp.core.errors import TemplateError
from forge_mcp.deploy.templates import CHATML, GEMMA, LLAMA3, MISTRAL, ollama_template
from forge_mcp.train.tiny import CHAT_TEMPLATE


@pytest.mark.parametrize(
    ("jinja", "family"),
    [
        (CHAT_TEMPLATE, CHATML),
        ("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}", LLAMA3),
        ("{{ '[INST] ' + message['content'] + ' [/INST]' }}", MISTRAL),
        ("{{ '<start_of_turn>' + role + '\n' }}", GEMMA),
    ],
)
def test_families_are_recognised_by_their_turn_markers(jinja: str, family) -> None:
    assert ollama_template(jinja) is family


def test_each_family_stops_at_its_turn_markers_and_renders_system_and_messages() -> None:
    for family in (CHATML, LLAMA3, MISTRAL, GEMMA):
        assert family.stops and "{{ .Content }}" in family.template.replace("$m.Content", ".Content")
    assert "<|im_end|>" in CHATML.stops and CHATML.template.endswith("<|im_start|>assistant\n")
    assert "{{ .System }}" in CHATML.template and "{{ .System }}" in LLAMA3.template
    assert "{{ $.System }}" in MISTRAL.template


def test_a_configured_template_wins_and_an_unknown_one_is_refused() -> None:
    mine = ollama_template(CHAT_TEMPLATE, "{{ .Prompt }}", ["</s>"])
    assert (mine.family, mine.template, mine.stops) == ("configured", "{{ .Prompt }}", ("</s>",))
    assert ollama_template(None, "{{ .Prompt }}").stops == ()
    for unknown in (None, "", "{{ messages | join }}"):
        with pytest.raises(TemplateError, match="ollama_template"):
            ollama_template(unknown)
