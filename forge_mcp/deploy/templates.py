"""The model's chat template in Ollama's Go-template form, and its stop tokens.

Ollama renders prompts with Go templates, not the Jinja templates of Hugging Face tokenizers, and a
model imported without the right template and stops is the classic "gibberish after import". The
families below cover the usual coder models; any other template must be given in forge.toml.
"""

from __future__ import annotations

from dataclasses import dataclass

from forge_mcp.core.errors import TemplateError


@dataclass(frozen=True)
class OllamaTemplate:
    family: str
    template: str
    stops: tuple[str, ...]


_SYSTEM = "{{- if .System }}"
CHATML = OllamaTemplate(
    "chatml",
    (
        _SYSTEM + "<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
        "<|im_start|>assistant\n"
    ),
    ("<|im_end|>", "<|im_start|>", "<|endoftext|>"),
)
LLAMA3 = OllamaTemplate(
    "llama3",
    (
        _SYSTEM + "<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    ("<|eot_id|>", "<|start_header_id|>", "<|end_of_text|>"),
)
MISTRAL = OllamaTemplate(
    "mistral",
    (
        '{{- range $i, $m := .Messages }}{{- if eq $m.Role "user" }}[INST] '
        "{{ if and $.System (eq $i 0) }}{{ $.System }}\n\n{{ end }}{{ $m.Content }} [/INST]"
        '{{- else if eq $m.Role "assistant" }} {{ $m.Content }}</s>{{ end }}{{ end }}'
    ),
    ("[INST]", "[/INST]", "</s>"),
)
GEMMA = OllamaTemplate(
    "gemma",
    (
        '{{- range .Messages }}<start_of_turn>{{ if eq .Role "assistant" }}model{{ else }}{{ .Role }}{{ end }}\n'
        "{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n"
    ),
    ("<end_of_turn>", "<start_of_turn>"),
)

_MARKERS = (("<|im_start|>", CHATML), ("<|start_header_id|>", LLAMA3), ("[INST]", MISTRAL), ("<start_of_turn>", GEMMA))


def ollama_template(
    chat_template: str | None, override: str | None = None, override_stops: list[str] | None = None
) -> OllamaTemplate:
    """The Go template for a Jinja chat template, recognised by its turn markers (or the configured one)."""
    if override:
        return OllamaTemplate("configured", override, tuple(override_stops or ()))
    for marker, family in _MARKERS:
        if chat_template and marker in chat_template:
            return family
    raise TemplateError(
        "the model's chat template is not one of ChatML, Llama 3, Mistral or Gemma: set "
        "[deploy] ollama_template (a Go template) and ollama_stops in forge.toml"
    )
