"""train.gguf_tokenizer: a tokenizers model rebuilt from a real GGUF's vocabulary, checked against llama.cpp."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.core.errors import TokenizerImportError
from forge_mcp.deploy.gguf_export import export_gguf
from forge_mcp.train.gguf_tokenizer import PRE_TOKENIZERS, USER_DEFINED, check_tokenizer, write_tokenizer

TEXTS = [
    "def add(a, b):\n    return a + b\n",
    "x = 12345 + 6\n",
    "<|im_start|>user\nhello<|im_end|>\n",
    "naïve café 日本語 🙂\n",
    "   leading spaces\n\n\ttabs",
]


@pytest.fixture(scope="module")
def tiny_gguf(tiny_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_gguf(tiny_path, tmp_path_factory.mktemp("gguf-tok") / "tiny.gguf", "f32").path


@pytest.fixture(scope="module")
def meta(tiny_gguf: Path) -> dict[str, Any]:
    import gguf

    reader = gguf.GGUFReader(tiny_gguf)
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def rebuilt(meta: dict[str, Any], out: Path, **changes: Any) -> tuple[Any, dict[str, Any]]:
    from tokenizers import Tokenizer

    out.mkdir(parents=True, exist_ok=True)
    changed = meta | changes
    summary = write_tokenizer(changed, out, len(changed["tokenizer.ggml.tokens"]), 2048)
    return Tokenizer.from_file(str(out / "tokenizer.json")), summary


def test_check_tokenizer_names_the_family(meta: dict[str, Any]) -> None:
    assert check_tokenizer(meta) == "gpt2"
    for pre, family in PRE_TOKENIZERS.items():
        assert check_tokenizer(meta | {"tokenizer.ggml.pre": pre}) == family
    without_pre = {k: v for k, v in meta.items() if k != "tokenizer.ggml.pre"}
    assert check_tokenizer(without_pre) == "gpt2"  # llama.cpp's default


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokenizer.ggml.model": None}, "has no tokenizer"),
        ({"tokenizer.ggml.model": "llama"}, "tokenizer is SentencePiece"),
        ({"tokenizer.ggml.model": "rwkv"}, "tokenizer is 'rwkv'"),
        ({"tokenizer.ggml.merges": None}, "has no merges"),
        ({"tokenizer.ggml.pre": "deepseek-coder"}, "unsupported pre-tokenizer .*'deepseek-coder'"),
    ],
)
def test_unsupported_vocabularies_are_refused(meta: dict[str, Any], change: dict[str, Any], message: str) -> None:
    changed = {k: v for k, v in (meta | change).items() if v is not None}
    with pytest.raises(TokenizerImportError, match=message):
        check_tokenizer(changed)


def test_the_rebuilt_tokenizer_encodes_like_the_original(meta: dict[str, Any], tiny_path: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    tokenizer, summary = rebuilt(meta, tmp_path / "tok")
    original = Tokenizer.from_file(str(tiny_path / "tokenizer.json"))
    for text in TEXTS:
        assert tokenizer.encode(text).ids == original.encode(text).ids, text
        assert tokenizer.decode(tokenizer.encode(text).ids, skip_special_tokens=False) == text
    assert summary["family"] == "gpt2" and summary["pre"] == "gpt-2" and summary["duplicate_tokens"] == 0
    assert summary["n_tokens"] == len(meta["tokenizer.ggml.tokens"])
    assert summary["n_merges"] == len(meta["tokenizer.ggml.merges"])
    assert summary["special_ids"] == {"eos": 2, "pad": 0} | (
        {"bos": meta["tokenizer.ggml.bos_token_id"]} if "tokenizer.ggml.bos_token_id" in meta else {}
    )
    assert summary["eos_token_ids"] == [0, 2]  # eos, and <|endoftext|> that ends a chat turn too
    assert summary["add_bos_token"] is False and summary["chat_template"] is True
    config = json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())
    assert config["chat_template"] == meta["tokenizer.chat_template"] and config["eos_token"] == "<|im_end|>"
    assert config["pad_token"] == "<|endoftext|>" and config["model_max_length"] == 2048
    assert json.loads((tmp_path / "tok" / "special_tokens_map.json").read_text())["eos_token"] == "<|im_end|>"


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_the_rebuilt_tokenizer_encodes_like_llama_cpp(meta: dict[str, Any], tiny_gguf: Path, tmp_path: Path) -> None:
    from llama_cpp import Llama

    tokenizer, _ = rebuilt(meta, tmp_path / "tok")
    llm = Llama(model_path=str(tiny_gguf), vocab_only=True, verbose=False)
    try:
        for text in TEXTS:
            assert tokenizer.encode(text).ids == llm.tokenize(text.encode(), add_bos=False, special=True), text
    finally:
        llm.close()


def test_bos_is_added_when_the_gguf_says_so(meta: dict[str, Any], tmp_path: Path) -> None:
    tokenizer, summary = rebuilt(
        meta, tmp_path / "bos", **{"tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.add_bos_token": True}
    )
    assert summary["add_bos_token"] is True and summary["special_ids"]["bos"] == 1
    assert tokenizer.encode("x").ids[0] == 1
    # Llama 3's rules add BOS by default; a bos id outside the vocabulary is dropped, as llama.cpp does.
    llama3, summary = rebuilt(
        meta, tmp_path / "llama3", **{"tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.bos_token_id": 10**6}
    )
    assert summary["family"] == "llama3" and "bos" not in summary["special_ids"]


@pytest.mark.parametrize(
    ("pre", "pieces"),
    [
        ("gpt-2", ["12345"]),
        ("smollm", ["1", "2", "3", "4", "5"]),
        ("qwen2", ["1", "2", "3", "4", "5"]),
        ("llama-bpe", ["123", "45"]),
    ],
)
def test_each_family_splits_digits_like_llama_cpp(
    meta: dict[str, Any], tmp_path: Path, pre: str, pieces: list[str]
) -> None:
    tokenizer, _ = rebuilt(meta, tmp_path / pre, **{"tokenizer.ggml.pre": pre})
    assert [p for p, _ in tokenizer.pre_tokenizer.pre_tokenize_str("12345")] == pieces


def test_qwen2_normalizes_to_nfc(meta: dict[str, Any], tmp_path: Path) -> None:
    qwen2, _ = rebuilt(meta, tmp_path / "qwen2", **{"tokenizer.ggml.pre": "qwen2"})
    assert qwen2.encode("cafe\u0301").ids == qwen2.encode("caf\u00e9").ids
    gpt2, _ = rebuilt(meta, tmp_path / "gpt2")
    assert gpt2.encode("cafe\u0301").ids != gpt2.encode("caf\u00e9").ids


def test_vocabulary_problems(meta: dict[str, Any], tmp_path: Path) -> None:
    tokens, types = list(meta["tokenizer.ggml.tokens"]), list(meta["tokenizer.ggml.token_type"])
    with pytest.raises(TokenizerImportError, match=r"has \d+ tokens but the embedding only 10 rows"):
        write_tokenizer(meta, tmp_path, 10, 2048)
    # A repeated string keeps its first id (llama.cpp's map does the same) and is counted.
    duplicated = {"tokenizer.ggml.tokens": tokens + [tokens[5]], "tokenizer.ggml.token_type": types + [1]}
    _, summary = rebuilt(meta, tmp_path / "dup", **duplicated)
    assert summary["duplicate_tokens"] == 1
    # An added token whose text is also an ordinary token maps back to that one: the ids would not be the model's.
    with pytest.raises(TokenizerImportError, match="added tokens map to other ids"):
        rebuilt(
            meta,
            tmp_path / "clash",
            **{"tokenizer.ggml.tokens": tokens + [tokens[5]], "tokenizer.ggml.token_type": types + [USER_DEFINED]},
        )
