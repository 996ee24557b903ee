"""The tokenizer half of a GGUF import: a Hugging Face `tokenizers` model rebuilt from the GGUF vocabulary.

A GGUF carries the tokenizer as metadata (`tokenizer.ggml.*`): the token strings, their types, the BPE merges
and the name of llama.cpp's pre-tokenizer (`tokenizer.ggml.pre`), which stands for a split regex compiled into
llama.cpp. Only byte-level BPE (`tokenizer.ggml.model == "gpt2"`) is rebuilt here, and only for the
pre-tokenizers whose split rules are known exactly; anything else is refused rather than approximated, since a
tokenizer that differs on a few texts trains and evaluates a subtly different model. The import checks the
result against llama.cpp on the original file (see `forge_mcp.deploy.verify`).

Written files: tokenizer.json, tokenizer_config.json (chat template, special tokens, add_bos_token) and
special_tokens_map.json, as mlx-lm / transformers load them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from forge_mcp.core.errors import TokenizerImportError
from forge_mcp.core.fsutil import atomic_write_json

# Llama 3's split regex; Qwen2 is the same with single digits instead of runs of up to three.
_HEAD = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
_TAIL = r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3_REGEX = _HEAD + r"\p{N}{1,3}" + _TAIL
QWEN2_REGEX = _HEAD + r"\p{N}" + _TAIL
# tokenizer.ggml.pre -> the split rule family it names in llama.cpp (llama-vocab.cpp).
PRE_TOKENIZERS = {
    "smollm": "smollm",
    "llama-bpe": "llama3",
    "llama3": "llama3",
    "llama-v3": "llama3",
    "qwen2": "qwen2",
    "gpt-2": "gpt2",
    "default": "gpt2",
}
CONTROL, USER_DEFINED = 3, 4  # gguf.TokenType values
# Tokens that end a chat turn in common templates; generation must stop on them, not only on eos.
CHAT_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|endoftext|>", "<|end_of_text|>")


def check_tokenizer(meta: Mapping[str, Any]) -> str:
    """The pre-tokenizer family of a supported GGUF vocabulary; raises before any weight is converted."""
    model = meta.get("tokenizer.ggml.model")
    if model is None or "tokenizer.ggml.tokens" not in meta:
        raise TokenizerImportError("the GGUF has no tokenizer (tokenizer.ggml.model / tokens missing)")
    if model != "gpt2":
        kind = "SentencePiece" if model == "llama" else repr(model)
        raise TokenizerImportError(
            f"the GGUF's tokenizer is {kind} (tokenizer.ggml.model = {model!r}): only "
            "byte-level BPE GGUFs (tokenizer.ggml.model = 'gpt2') are supported for now"
        )
    if "tokenizer.ggml.merges" not in meta:
        raise TokenizerImportError("the GGUF's BPE tokenizer has no merges (tokenizer.ggml.merges)")
    pre = str(meta.get("tokenizer.ggml.pre", "default"))
    if pre not in PRE_TOKENIZERS:
        raise TokenizerImportError(
            f"unsupported pre-tokenizer tokenizer.ggml.pre = {pre!r}: supported are {sorted(PRE_TOKENIZERS)}"
        )
    return PRE_TOKENIZERS[pre]


def write_tokenizer(meta: Mapping[str, Any], out_dir: Path, n_vocab: int, context_length: int) -> dict[str, Any]:
    """Write the tokenizer files into `out_dir`; returns a summary (special ids, eos list, template...)."""
    family = check_tokenizer(meta)
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    types: list[int] = [int(t) for t in meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)]
    if len(tokens) > n_vocab:
        raise TokenizerImportError(f"the vocabulary has {len(tokens)} tokens but the embedding only {n_vocab} rows")
    special = _special_ids(meta, len(tokens))
    tokenizer, duplicates = _build(tokens, types, list(meta["tokenizer.ggml.merges"]), family, meta, special)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    names = {key: tokens[i] for key, i in special.items() if key in ("bos", "eos", "pad", "unk")}
    template = meta.get("tokenizer.chat_template")
    add_bos, add_eos = _adds(meta, family)
    atomic_write_json(
        out_dir / "tokenizer_config.json",
        {
            # TokenizersBackend (transformers 5) takes tokenizer.json as written; for model_type qwen2 transformers
            # substitutes Qwen2Tokenizer, whose split regex and NFC normalizer are the ones written here anyway.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "chat_template": template,
            "bos_token": names.get("bos"),
            "eos_token": names.get("eos"),
            "pad_token": names.get("pad", names.get("eos")),
            "unk_token": names.get("unk"),
            "add_bos_token": add_bos,
            "add_eos_token": add_eos,
            "model_max_length": context_length,
            "clean_up_tokenization_spaces": False,
        },
    )
    atomic_write_json(
        out_dir / "special_tokens_map.json", {f"{key}_token": text for key, text in names.items() if text is not None}
    )
    return {
        "pre": meta.get("tokenizer.ggml.pre", "default"),
        "family": family,
        "n_tokens": len(tokens),
        "n_merges": len(meta["tokenizer.ggml.merges"]),
        "duplicate_tokens": duplicates,
        "special_ids": special,
        "eos_token_ids": _eos_ids(tokens, types, special),
        "add_bos_token": add_bos,
        "chat_template": template is not None,
    }


def _special_ids(meta: Mapping[str, Any], n_tokens: int) -> dict[str, int]:
    """bos/eos/pad/unk/eot/eom ids the GGUF names (ids outside the vocabulary are dropped: llama.cpp ignores
    them too)."""
    keys = {
        "bos": "bos_token_id",
        "eos": "eos_token_id",
        "pad": "padding_token_id",
        "unk": "unknown_token_id",
        "eot": "eot_token_id",
        "eom": "eom_token_id",
    }
    out = {}
    for key, field in keys.items():
        value = meta.get(f"tokenizer.ggml.{field}")
        if value is not None and 0 <= int(value) < n_tokens:
            out[key] = int(value)
    return out


def _eos_ids(tokens: list[str], types: list[int], special: dict[str, int]) -> list[int]:
    """Every id that ends generation: eos, eot, eom and the chat-turn end tokens present as control tokens."""
    ids = {special[k] for k in ("eos", "eot", "eom") if k in special}
    ids.update(
        i
        for i, (text, kind) in enumerate(zip(tokens, types, strict=True))
        if kind == CONTROL and text in CHAT_END_TOKENS
    )
    return sorted(ids)


def _build(
    tokens: list[str],
    types: list[int],
    merges: list[str],
    family: str,
    meta: Mapping[str, Any],
    special: dict[str, int],
) -> tuple[Any, int]:
    """The `tokenizers.Tokenizer` and how many duplicate token strings were dropped from the BPE vocab."""
    from tokenizers import AddedToken, Tokenizer, decoders, models

    vocab: dict[str, int] = {}
    for i, text in enumerate(tokens):
        vocab.setdefault(text, i)  # a repeated string keeps its first id, as llama.cpp's text->id map does
    pairs = [(left, right) for left, _, right in (m.partition(" ") for m in merges)]
    # llama.cpp skips the merges for a word already in the vocabulary with the Llama 3 rules (ignore_merges).
    bpe = models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False, ignore_merges=family == "llama3")
    tokenizer = Tokenizer(bpe)
    _set_pipeline(tokenizer, family)
    tokenizer.decoder = decoders.ByteLevel()
    added = [
        (i, AddedToken(text, special=kind == CONTROL, normalized=False))
        for i, (text, kind) in enumerate(zip(tokens, types, strict=True))
        if kind in (CONTROL, USER_DEFINED)
    ]
    tokenizer.add_special_tokens([t for _, t in added if t.special])
    tokenizer.add_tokens([t for _, t in added if not t.special])
    wrong = [(i, t.content) for i, t in added if tokenizer.token_to_id(t.content) != i]
    if wrong:  # an added token's text also names another id: the rebuilt ids would not be the model's
        raise TokenizerImportError(f"added tokens map to other ids in the rebuilt tokenizer: {wrong[:5]}")
    _set_post_processor(tokenizer, tokens, special, *_adds(meta, family))
    return tokenizer, len(tokens) - len(vocab)


def _set_pipeline(tokenizer: Any, family: str) -> None:
    """Normalizer and pre-tokenizer for a family (llama.cpp's split rules for that `tokenizer.ggml.pre`)."""
    from tokenizers import Regex, normalizers, pre_tokenizers

    if family == "smollm":  # SmolLM's own tokenizer.json: single digits, then GPT-2's byte-level regex
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
        )
    elif family in ("llama3", "qwen2"):
        regex = LLAMA3_REGEX if family == "llama3" else QWEN2_REGEX
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        if family == "qwen2":  # Qwen2's tokenizer NFC-normalizes (transformers' Qwen2Tokenizer does the same)
            tokenizer.normalizer = normalizers.NFC()
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)


def _adds(meta: Mapping[str, Any], family: str) -> tuple[bool, bool]:
    """(add BOS, add EOS) as llama.cpp decides: the GGUF's keys, else its default (BOS for Llama 3's rules)."""
    return (
        bool(meta.get("tokenizer.ggml.add_bos_token", family == "llama3")),
        bool(meta.get("tokenizer.ggml.add_eos_token", False)),
    )


def _set_post_processor(
    tokenizer: Any, tokens: list[str], special: dict[str, int], add_bos: bool, add_eos: bool
) -> None:
    """BOS/EOS added by `encode` exactly when llama.cpp adds them."""
    from tokenizers import processors

    add_bos, add_eos = add_bos and "bos" in special, add_eos and "eos" in special
    if not (add_bos or add_eos):
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
        return
    bos, eos = tokens[special["bos"]] if add_bos else "", tokens[special["eos"]] if add_eos else ""
    single = " ".join(filter(None, [bos, "$A:0", eos]))
    pair = " ".join(filter(None, [single, bos and f"{bos}:1", "$B:1", eos and f"{eos}:1"]))
    pairs = {(bos, special.get("bos")), (eos, special.get("eos"))}
    tokenizer.post_processor = processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=[(text, int(i)) for text, i in pairs if text and i is not None]
    )
