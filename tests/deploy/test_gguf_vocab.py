"""deploy.gguf_vocab: the tokenizer metadata add_vocab writes (read back from a real GGUF) and what it refuses."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.core.errors import ExportError
from forge_mcp.deploy.gguf_vocab import PRE_BY_REGEX, add_vocab

TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
QWEN2_REGEX = next(r for r, name in PRE_BY_REGEX.items() if name == "qwen2")
LLAMA3_REGEX = next(r for r, name in PRE_BY_REGEX.items() if name == "llama-bpe")


def vocab_of(model_dir: Path, out: Path, n_vocab: int, **kwargs: Any) -> dict[str, Any]:
    """Write only the vocabulary into a GGUF file and read its metadata back."""
    import gguf

    writer = gguf.GGUFWriter(str(out), "llama")
    add_vocab(writer, model_dir, n_vocab, **kwargs)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    return {name: field.contents() for name, field in gguf.GGUFReader(out).fields.items()}


@pytest.fixture
def tokenizer_copy(tiny_path: Path, tmp_path: Path) -> Callable[..., Path]:
    """A folder with tiny's tokenizer files, each JSON file optionally edited."""

    def make(name: str = "tok", **edits: Callable[[dict[str, Any]], None]) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for file in TOKENIZER_FILES:
            shutil.copyfile(tiny_path / file, folder / file)
        for stem, edit in edits.items():
            path = folder / f"{stem}.json"
            data = json.loads(path.read_text())
            edit(data)
            path.write_text(json.dumps(data))
        return folder

    return make


def n_vocab(tiny_path: Path) -> int:
    return int(json.loads((tiny_path / "config.json").read_text())["vocab_size"])


def test_byte_level_bpe_vocab(tiny_path: Path, tmp_path: Path) -> None:
    import gguf

    tok = json.loads((tiny_path / "tokenizer.json").read_text())
    rows = n_vocab(tiny_path) + 4  # embedding rows past the tokenizer
    meta = vocab_of(tiny_path, tmp_path / "v.gguf", rows)
    assert (meta["tokenizer.ggml.model"], meta["tokenizer.ggml.pre"]) == ("gpt2", "gpt-2")
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    assert len(tokens) == len(types) == meta["llama.vocab_size"] == rows
    assert tokens[:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] and types[:3] == [gguf.TokenType.CONTROL] * 3
    assert tokens[-4:] == [f"[PAD{i}]" for i in range(rows - 4, rows)] and types[-4:] == [gguf.TokenType.UNUSED] * 4
    assert tokens[tok["model"]["vocab"]["Ġx"]] == "Ġx"
    assert meta["tokenizer.ggml.merges"] == [" ".join(pair) for pair in tok["model"]["merges"]]
    assert meta["tokenizer.ggml.eos_token_id"] == 2 and meta["tokenizer.ggml.add_bos_token"] is False
    assert (
        meta["tokenizer.chat_template"]
        == json.loads((tiny_path / "tokenizer_config.json").read_text())["chat_template"]
    )


def test_special_tokens_can_be_written_as_normal(tiny_path: Path, tmp_path: Path) -> None:
    import gguf

    meta = vocab_of(tiny_path, tmp_path / "v.gguf", n_vocab(tiny_path), special_as_control=False)
    assert meta["tokenizer.ggml.token_type"][:3] == [gguf.TokenType.NORMAL] * 3


def sequence(*parts: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(tok: dict[str, Any]) -> None:
        tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": list(parts)}

    return edit


def split(regex: str) -> dict[str, Any]:
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}


@pytest.mark.parametrize(
    ("edit", "pre"),
    [
        (sequence({"type": "Digits", "individual_digits": True}, BYTE_LEVEL | {"use_regex": True}), "smollm"),
        (sequence(split(QWEN2_REGEX), BYTE_LEVEL | {"use_regex": False}), "qwen2"),
        (sequence(split(LLAMA3_REGEX), BYTE_LEVEL | {"use_regex": False}), "llama-bpe"),
    ],
)
def test_pre_tokenizers_map_to_llama_cpp_names(
    tokenizer_copy: Callable[..., Path], tiny_path: Path, tmp_path: Path, edit: Any, pre: str
) -> None:
    meta = vocab_of(tokenizer_copy(tokenizer=edit), tmp_path / "v.gguf", n_vocab(tiny_path))
    assert meta["tokenizer.ggml.pre"] == pre


def test_merges_written_as_strings_are_kept(
    tokenizer_copy: Callable[..., Path], tiny_path: Path, tmp_path: Path
) -> None:
    def as_strings(tok: dict[str, Any]) -> None:
        tok["model"]["merges"] = [" ".join(pair) for pair in tok["model"]["merges"]]

    folder = tokenizer_copy(tokenizer=as_strings)
    meta = vocab_of(folder, tmp_path / "v.gguf", n_vocab(tiny_path))
    assert meta["tokenizer.ggml.merges"] == json.loads((folder / "tokenizer.json").read_text())["model"]["merges"]


def test_refusals(tokenizer_copy: Callable[..., Path], tiny_path: Path, tmp_path: Path) -> None:
    rows = n_vocab(tiny_path)
    with pytest.raises(ExportError, match=r"token id \d+ .* is past the embedding's 100 rows"):
        vocab_of(tiny_path, tmp_path / "short.gguf", 100)
    odd = tokenizer_copy("odd", tokenizer=sequence(split(r"\s+"), BYTE_LEVEL | {"use_regex": False}))
    with pytest.raises(ExportError, match="unsupported byte-level BPE pre-tokenizer"):
        vocab_of(odd, tmp_path / "odd.gguf", rows)
    untemplated = tokenizer_copy("untemplated", tokenizer_config=lambda c: c.pop("chat_template"))
    with pytest.raises(ExportError, match="has no chat template"):
        vocab_of(untemplated, tmp_path / "untemplated.gguf", rows)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ExportError, match="cannot load the tokenizer"):
        vocab_of(empty, tmp_path / "empty.gguf", rows)


def test_a_tokenizer_that_is_neither_bpe_nor_sentencepiece(tmp_path: Path) -> None:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    folder = tmp_path / "words"
    folder.mkdir()
    tokenizer = Tokenizer(WordLevel({"<unk>": 0, "def": 1, "add": 2}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}))
    with pytest.raises(ExportError, match="unsupported tokenizer"):
        vocab_of(folder, tmp_path / "words.gguf", 3)


def test_sentencepiece_vocab_has_scores_and_byte_tokens(spm_path: Path, tmp_path: Path) -> None:
    import gguf

    meta = vocab_of(spm_path, tmp_path / "spm.gguf", 304)
    assert (meta["tokenizer.ggml.model"], meta["tokenizer.ggml.pre"]) == ("llama", "default")
    tokens, types, scores = (meta[f"tokenizer.ggml.{k}"] for k in ("tokens", "token_type", "scores"))
    assert len(tokens) == len(types) == len(scores) == 304
    assert tokens[:5] == ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    assert types[:5] == [gguf.TokenType.UNKNOWN] + [gguf.TokenType.CONTROL] * 4
    assert scores[3:5] == [-1000.0, -1000.0]  # added tokens
    assert types[tokens.index("<0x41>")] == gguf.TokenType.BYTE
    assert tokens[-4:] == ["[PAD300]", "[PAD301]", "[PAD302]", "[PAD303]"] and scores[-1] == -10000.0
    assert meta["tokenizer.ggml.add_bos_token"] is True
