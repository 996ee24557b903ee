"""The vocabulary half of the GGUF export: what llama.cpp needs to tokenize exactly like the HF tokenizer.

Byte-level BPE (GPT-2 style, Qwen2, Llama 3) is written as `tokenizer.ggml.model = "gpt2"` with the
llama.cpp pre-tokenizer that implements the tokenizer's split regex, its merges and INT32 token types
(special added tokens CONTROL); SentencePiece (`tokenizer.model`: Llama 2, Mistral) as "llama" with scores,
as llama.cpp's convert_hf_to_gguf.py does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forge_mcp.core.errors import ExportError

_GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3_HEAD = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
_TAIL = r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
# The split regex of a byte-level BPE tokenizer.json -> llama.cpp's `tokenizer.ggml.pre` that implements it.
PRE_BY_REGEX = {
    _GPT2_REGEX: "gpt-2",
    _LLAMA3_HEAD + r"\p{N}|" + _TAIL: "qwen2",
    _LLAMA3_HEAD + r"\p{N}{1,3}|" + _TAIL: "llama-bpe",
}


def add_vocab(writer: Any, model_dir: Path, n_vocab: int, *, special_as_control: bool = True) -> None:
    """Tokenizer metadata: tokens, INT32 types, merges or scores, special ids, add_bos, chat template."""
    import gguf

    hf, tok_json = _runtime_tokenizer(model_dir)
    tokens: list[str] | list[bytes]  # byte-level BPE tokens are strings, SentencePiece pieces bytes
    if tok_json is not None and _is_byte_level_bpe(tok_json):
        tokens, types = _bpe_vocab(tok_json, n_vocab, special_as_control)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(_bpe_pre(tok_json))
        writer.add_token_merges(_merges(tok_json))
    elif (model_dir / "tokenizer.model").is_file():
        tokens, scores, types = _spm_vocab(model_dir, n_vocab)
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_scores(scores)
    else:
        raise ExportError(
            f"unsupported tokenizer in {model_dir}: need a byte-level BPE tokenizer.json "
            "or a SentencePiece tokenizer.model"
        )
    writer.add_vocab_size(n_vocab)
    writer.add_token_list(tokens)
    writer.add_token_types([int(t) for t in types])  # python ints -> INT32, what llama.cpp requires
    special = gguf.SpecialVocab(model_dir, load_merges=False, n_vocab=n_vocab)
    special.add_to_gguf(writer, quiet=True)
    if "bos" not in special.add_special_token:  # say it explicitly: llama.cpp's default differs per vocab
        bos = special.special_token_ids.get("bos")
        writer.add_add_bos_token(bos is not None and hf is not None and list(hf.encode("a"))[:1] == [bos])
    if special.chat_template is None:
        raise ExportError(
            f"{model_dir} has no chat template (tokenizer_config.json or chat_template.jinja): "
            "a GGUF without one produces gibberish in chat front-ends"
        )


def _runtime_tokenizer(model_dir: Path) -> tuple[Any, dict[str, Any] | None]:
    """(HF tokenizer, its tokenizers JSON) as mlx-lm loads it at run time. That can differ from the
    tokenizer.json on disk: transformers 5 picks the tokenizer class from config.json's model_type and,
    e.g. for qwen2, replaces the file's pre-tokenizer with Qwen2's own regex. The GGUF must match what
    the model was trained and is evaluated with, so the loaded tokenizer is the source of truth."""
    from mlx_lm.utils import load_tokenizer

    try:
        hf = load_tokenizer(model_dir)
    except Exception as exc:  # any loader failure: the folder's tokenizer is unusable
        raise ExportError(f"cannot load the tokenizer of {model_dir}: {exc}") from exc
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is not None:
        return hf, json.loads(backend.to_str())
    path = model_dir / "tokenizer.json"  # a slow (Python) tokenizer: fall back to the file
    return hf, json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _merges(tok_json: dict[str, Any]) -> list[str]:
    """BPE merges as GGUF wants them: "left right"; a space inside a part becomes U+0120 (byte-level's space)."""
    merges = tok_json["model"].get("merges") or []
    if not merges:
        raise ExportError("the byte-level BPE tokenizer has no merges")
    if isinstance(merges[0], str):
        return list(merges)
    return [" ".join("".join(chr(ord(c) + 256) if c == " " else c for c in part) for part in pair) for pair in merges]


def _is_byte_level_bpe(tok_json: dict[str, Any]) -> bool:
    pre = tok_json.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    return tok_json.get("model", {}).get("type") == "BPE" and any(p.get("type") == "ByteLevel" for p in parts)


def _bpe_pre(tok_json: dict[str, Any]) -> str:
    """llama.cpp's pre-tokenizer name for the split regex this tokenizer.json uses."""
    pre = tok_json["pre_tokenizer"]
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    parts = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
    if (
        [p.get("type") for p in parts] == ["Digits", "ByteLevel"]
        and parts[0].get("individual_digits")
        and parts[1].get("use_regex", True)
    ):
        return "smollm"  # SmolLM/SmolLM2: single digits, then GPT-2's split (llama.cpp's `smollm`)
    splits = [p for p in parts if p.get("type") == "Split"]
    last = parts[-1] if parts else {}
    if len(splits) == 1 and last.get("type") == "ByteLevel" and not last.get("use_regex", True):
        regex = splits[0].get("pattern", {}).get("Regex")
        if regex in PRE_BY_REGEX:
            return PRE_BY_REGEX[regex]
    raise ExportError(
        f"unsupported byte-level BPE pre-tokenizer (not gpt-2, smollm, qwen2 or llama-bpe): {json.dumps(pre)[:300]}"
    )


def _looks_special(text: str) -> bool:
    # What convert_hf_to_gguf.py treats as a control token even when not flagged special.
    return (text.startswith("<|") and text.endswith("|>")) or text in ("<s>", "</s>", "<unk>", "<pad>")


def _bpe_vocab(tok_json: dict[str, Any], n_vocab: int, special_as_control: bool) -> tuple[list[str], list[int]]:
    """Tokens (byte-level strings as in tokenizer.json) and INT32 types; rows past the tokenizer: [PADn]."""
    import gguf

    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    types = [int(gguf.TokenType.UNUSED)] * n_vocab
    added = {int(t["id"]): t for t in tok_json.get("added_tokens", [])}
    for text, index in [*tok_json["model"]["vocab"].items(), *((t["content"], i) for i, t in added.items())]:
        if index >= n_vocab:
            raise ExportError(f"token id {index} ({text!r}) is past the embedding's {n_vocab} rows")
        tokens[index] = text
        types[index] = int(gguf.TokenType.NORMAL)
        if index in added:
            control = added[index].get("special") or _looks_special(text)
            types[index] = int(gguf.TokenType.CONTROL if control else gguf.TokenType.USER_DEFINED)
            if not special_as_control:
                types[index] = int(gguf.TokenType.NORMAL)
    return tokens, types


def _spm_vocab(model_dir: Path, n_vocab: int) -> tuple[list[bytes], list[float], list[int]]:
    """SentencePiece pieces, scores and types, as convert_hf_to_gguf.py's `_create_vocab_sentencepiece`."""
    import gguf
    from sentencepiece import SentencePieceProcessor

    sp = SentencePieceProcessor()
    sp.LoadFromFile(str(model_dir / "tokenizer.model"))
    tokens = [f"[PAD{i}]".encode() for i in range(n_vocab)]
    scores, types = [-10000.0] * n_vocab, [int(gguf.TokenType.UNUSED)] * n_vocab
    for i in range(min(sp.vocab_size(), n_vocab)):
        kind = (
            gguf.TokenType.UNKNOWN
            if sp.IsUnknown(i)
            else gguf.TokenType.CONTROL
            if sp.IsControl(i)
            else gguf.TokenType.UNUSED
            if sp.IsUnused(i)
            else gguf.TokenType.BYTE
            if sp.IsByte(i)
            else gguf.TokenType.NORMAL
        )
        tokens[i], scores[i], types[i] = sp.IdToPiece(i).encode("utf-8"), float(sp.GetScore(i)), int(kind)
    config_path = model_dir / "tokenizer_config.json"
    decoder = json.loads(config_path.read_text()).get("added_tokens_decoder", {}) if config_path.is_file() else {}
    for key, data in decoder.items():
        if int(key) < n_vocab:
            special = data.get("special") or _looks_special(data["content"])
            tokens[int(key)], scores[int(key)] = data["content"].encode("utf-8"), -1000.0
            types[int(key)] = int(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
    return tokens, scores, types
