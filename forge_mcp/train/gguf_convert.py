"""GGUF -> mlx-lm model folder: the tensor conversion behind `gguf_import.import_gguf`.

`convert_gguf` reads a GGUF (gguf's GGUFReader), maps its hyperparameters to an HF config.json, dequantizes
every tensor (F32, F16, BF16, Q8_0, Q4_0/1, Q5_0/1, Q4_K, Q5_K, Q6_K) into float safetensors with mlx-lm/HF
names (un-permuting llama's q/k rows, recovering Llama 3 rope scaling from `rope_freqs.weight`) and writes
the tokenizer rebuilt from the GGUF vocabulary (`gguf_tokenizer`). No verification, no caching: that is
`gguf_import`'s job. Also home of the import's errors, so every GGUF module can raise them without a cycle.

Supported: architectures llama (SmolLM2, Llama 3.x) and qwen2 (Qwen2.5 / Qwen2.5-Coder), byte-level BPE
vocabularies. Anything else is refused with the reason, never converted approximately.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from forge_mcp.core.errors import GGUFImportError, TokenizerImportError
from forge_mcp.core.fsutil import atomic_write_json
from forge_mcp.train.gguf_tokenizer import check_tokenizer, write_tokenizer

SUPPORTED_ARCHS = ("llama", "qwen2")
BIG_MODEL_PARAMS = 1_200_000_000  # above this, weights are written as bf16 (half the disk of f32)


def convert_gguf(path: Path, out_dir: Path, big_model_params: int | None = None) -> dict[str, Any]:
    """Write config.json, generation_config.json, model.safetensors and the tokenizer files of `path` into
    `out_dir` (no verification, no caching); returns what the import record keeps about the file.
    Weights are bf16 above `big_model_params` parameters (default BIG_MODEL_PARAMS), else f32."""

    reader, meta = _open_reader(path)
    arch = str(meta.get("general.architecture"))
    if arch not in SUPPORTED_ARCHS:
        raise GGUFImportError(
            f"unsupported GGUF architecture {arch!r} in {path.name}: supported are {', '.join(SUPPORTED_ARCHS)}"
        )
    try:
        check_tokenizer(meta)  # refuse before the slow part
        hp = _hparams(meta, arch)
        tensors = {t.name: t for t in reader.tensors}
        plan, flags = _plan(tensors, hp, arch)
        n_vocab = int(tensors["token_embd.weight"].shape[-1])  # rows of the embedding (dims are reversed)
        config = _config(arch, hp, flags, n_vocab, _rope_scaling(meta, arch, hp, tensors.get("rope_freqs.weight")))
        n_params = sum(int(tensors[g].n_elements) for g, _, _ in plan)
        limit = BIG_MODEL_PARAMS if big_model_params is None else big_model_params
        dtype = "bfloat16" if n_params > limit else "float32"
        tok = write_tokenizer(meta, out_dir, config["vocab_size"], config["max_position_embeddings"])
    except TokenizerImportError as exc:
        raise GGUFImportError(f"{path.name}: {exc}") from exc
    config |= {
        "torch_dtype": dtype,
        "bos_token_id": tok["special_ids"].get("bos"),
        "eos_token_id": tok["eos_token_ids"] or None,
    }
    atomic_write_json(out_dir / "config.json", config)
    atomic_write_json(
        out_dir / "generation_config.json",
        {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]},
    )
    _write_safetensors(out_dir / "model.safetensors", [(hf, tensors[g], heads) for g, hf, heads in plan], dtype)
    return {
        "architecture": arch,
        "name": meta.get("general.name"),
        "file_type": meta.get("general.file_type"),
        "tensor_types": dict(Counter(t.tensor_type.name for t in reader.tensors)),
        "n_params": n_params,
        "dtype": dtype,
        "rope_scaling": config.get("rope_scaling"),
        "tokenizer": tok,
    }


def _open_reader(path: Path) -> tuple[Any, dict[str, Any]]:
    """(GGUFReader, metadata) of a file whose every tensor lies inside it; GGUFImportError for anything else."""
    import gguf

    try:
        reader = gguf.GGUFReader(path)
        meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    except Exception as exc:
        raise GGUFImportError(
            f"{path} is not a readable GGUF file (corrupt or truncated): {type(exc).__name__}: {exc}"
        ) from exc
    size = len(reader.data)
    for t in reader.tensors:
        if t.data_offset + t.n_bytes > size or t.data.nbytes != t.n_bytes:
            raise GGUFImportError(
                f"{path} is truncated: tensor {t.name} ends at byte {t.data_offset + t.n_bytes} of a {size}-byte file"
            )
    if int(meta.get("split.count") or 1) > 1:
        raise GGUFImportError(
            f"{path.name} is one part of a split GGUF ({meta['split.count']} parts): merge them "
            "first (llama-gguf-split --merge FIRST-PART OUT.gguf)"
        )
    if not reader.tensors:
        raise GGUFImportError(f"{path} holds no tensors")
    return reader, meta


def _hparams(meta: Mapping[str, Any], arch: str) -> dict[str, Any]:
    def get(key: str, default: Any = None) -> Any:
        value = meta.get(f"{arch}.{key}", default)
        if value is None:
            raise GGUFImportError(f"the GGUF lacks {arch}.{key}")
        if isinstance(value, list):  # per-layer values (some hybrid models): not these architectures
            if len(set(value)) != 1:
                raise GGUFImportError(f"{arch}.{key} varies per layer ({value[:4]}...): not supported")
            value = value[0]
        return value

    hidden, heads = int(get("embedding_length")), int(get("attention.head_count"))
    head_dim = int(get("attention.key_length", hidden // heads))
    if int(get("attention.value_length", head_dim)) != head_dim:
        raise GGUFImportError("different key and value head sizes are not supported")
    if int(get("rope.dimension_count", head_dim)) != head_dim:
        raise GGUFImportError(
            f"partial rotary embeddings (rope over {get('rope.dimension_count')} of {head_dim} dims) are not supported"
        )
    return {
        "hidden_size": hidden,
        "num_hidden_layers": int(get("block_count")),
        "intermediate_size": int(get("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get("attention.head_count_kv", heads)),
        "head_dim": head_dim,
        "rms_norm_eps": _f32(get("attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": _f32(get("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(get("context_length", 2048)),
    }


def _f32(value: Any) -> float:
    """A GGUF float32 as the decimal it was written from (9.999999747e-06 -> 1e-05)."""
    import numpy as np

    return float(str(np.float32(value)))


_GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_BLOCK_NAMES = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_REQUIRED = (
    "attn_norm.weight",
    "ffn_norm.weight",
    "attn_q.weight",
    "attn_k.weight",
    "attn_v.weight",
    "attn_output.weight",
    "ffn_gate.weight",
    "ffn_up.weight",
    "ffn_down.weight",
)


def _plan(tensors: Mapping[str, Any], hp: dict[str, Any], arch: str) -> tuple[list[tuple[str, str, int]], dict]:
    """[(GGUF name, HF name, heads to un-permute over or 0)] and the bias/tying flags of the config."""
    plan = []
    for name in tensors:
        if name == "rope_freqs.weight":
            continue  # rope factors: turned into config's rope_scaling
        hf = _hf_name(name, arch)
        # llama.cpp's converter interleaves q/k rows for llama (NORM rope); qwen2 (NEOX rope) is left as is.
        kind = name.split(".")[2] if name.startswith("blk.") else ""
        heads = (
            (hp["num_attention_heads"] if kind == "attn_q" else hp["num_key_value_heads"] if kind == "attn_k" else 0)
            if arch == "llama"
            else 0
        )
        plan.append((name, hf, heads))
    missing = [
        f"blk.{i}.{r}" for i in range(hp["num_hidden_layers"]) for r in _REQUIRED if f"blk.{i}.{r}" not in tensors
    ]
    missing += [n for n in ("token_embd.weight", "output_norm.weight") if n not in tensors]
    if missing:
        raise GGUFImportError(f"the GGUF lacks tensors {missing[:6]}{' ...' if len(missing) > 6 else ''}")
    return sorted(plan, key=lambda p: _order(p[1])), _flags(tensors, hp, arch)


def _hf_name(name: str, arch: str) -> str:
    if name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[name]
    match = re.fullmatch(r"blk\.(\d+)\.(\w+)\.(weight|bias)", name)
    if match is None or match.group(2) not in _BLOCK_NAMES:
        raise GGUFImportError(
            f"tensor {name!r} has no {arch} counterpart in mlx-lm (mixture-of-experts or another "
            "variant of the architecture?): not supported"
        )
    return f"model.layers.{match.group(1)}.{_BLOCK_NAMES[match.group(2)]}.{match.group(3)}"


def _order(hf_name: str) -> tuple[int, str]:
    match = re.match(r"model\.layers\.(\d+)\.", hf_name)
    return (int(match.group(1)) + 1 if match else 0 if "embed" in hf_name else 10**9, hf_name)


def _flags(tensors: Mapping[str, Any], hp: dict[str, Any], arch: str) -> dict[str, bool]:
    """Which biases exist (all layers alike, as mlx-lm's modules need) and whether embeddings are tied."""

    def every(suffix: str) -> bool | None:
        have = [f"blk.{i}.{suffix}" in tensors for i in range(hp["num_hidden_layers"])]
        return all(have) if all(have) or not any(have) else None

    attn = [every(f"{k}.bias") for k in ("attn_q", "attn_k", "attn_v", "attn_output")]
    mlp = [every(f"{k}.bias") for k in ("ffn_gate", "ffn_up", "ffn_down")]
    qkv_o = (tuple(attn[:3]), attn[3])
    if arch == "qwen2":
        if qkv_o != ((True, True, True), False) or any(mlp):
            raise GGUFImportError("a qwen2 GGUF must have q/k/v biases and no o_proj/MLP biases (as Qwen2 does)")
    elif len(set(attn)) != 1 or None in attn or len(set(mlp)) != 1 or None in mlp:
        raise GGUFImportError("llama GGUF with biases on only some attention/MLP projections: not supported")
    return {
        "attention_bias": bool(attn[0]) and arch == "llama",
        "mlp_bias": bool(mlp[0]),
        "tie_word_embeddings": "output.weight" not in tensors,
    }


def _config(
    arch: str, hp: dict[str, Any], flags: dict[str, bool], n_vocab: int, rope_scaling: dict[str, Any] | None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_type": arch,
        "architectures": ["LlamaForCausalLM" if arch == "llama" else "Qwen2ForCausalLM"],
        **hp,
        "vocab_size": int(n_vocab),
        "tie_word_embeddings": flags["tie_word_embeddings"],
    }
    if arch == "llama":
        config |= {"attention_bias": flags["attention_bias"], "mlp_bias": flags["mlp_bias"]}
    if rope_scaling is not None:
        config["rope_scaling"] = rope_scaling
    return config


def _rope_scaling(meta: Mapping[str, Any], arch: str, hp: dict[str, Any], freqs: Any) -> dict[str, Any] | None:
    """HF rope_scaling for the GGUF's rope: none, linear, or llama3 recovered from `rope_freqs.weight`."""
    kind = str(meta.get(f"{arch}.rope.scaling.type", "none"))
    factor = float(meta.get(f"{arch}.rope.scaling.factor") or meta.get(f"{arch}.rope.scale_linear") or 1.0)
    if freqs is not None:
        if kind not in ("none", "linear") or factor != 1.0:
            raise GGUFImportError(f"rope_freqs.weight together with rope scaling {kind!r}: not supported")
        return _llama3_from_freqs(_dequantize(freqs), hp, arch)
    if kind == "none" or (kind == "linear" and factor == 1.0):
        return None
    if kind == "linear":
        return {"type": "linear", "rope_type": "linear", "factor": factor}
    raise GGUFImportError(
        f"rope scaling type {kind!r} is not supported (only none, linear and Llama 3's "
        "rope_freqs): converting it approximately would give a subtly wrong model"
    )


def _llama3_from_freqs(freqs: Any, hp: dict[str, Any], arch: str) -> dict[str, Any] | None:
    """Llama 3.1+ GGUFs store the per-dimension rope divisors, not the parameters that made them: find the
    parameters (factor, low/high frequency factors, original context) that reproduce them exactly."""
    import numpy as np

    if arch != "llama":
        raise GGUFImportError("rope_freqs.weight is only supported for the llama architecture")
    freqs = np.asarray(freqs, dtype=np.float32).reshape(-1)
    if np.allclose(freqs, 1.0):
        return None  # all ones: plain rope
    theta, dim, factor = hp["rope_theta"], hp["head_dim"], float(round(float(freqs.max()), 4))
    for low in (1.0, 2.0, 0.5):
        for high in (4.0, 2.0, 8.0, 1.0):
            for old in (8192, 4096, 2048, 16384, 32768, 65536, 131072):
                if np.allclose(llama3_rope_factors(theta, dim, factor, low, high, old), freqs, rtol=1e-4, atol=1e-4):
                    return {
                        "rope_type": "llama3",
                        "factor": factor,
                        "low_freq_factor": low,
                        "high_freq_factor": high,
                        "original_max_position_embeddings": old,
                    }
    raise GGUFImportError(f"rope_freqs.weight (max factor {factor}) matches no Llama 3 rope scaling: not supported")


def llama3_rope_factors(theta: float, dim: int, factor: float, low: float, high: float, old_ctx: float) -> Any:
    """The divisors llama.cpp's converter writes as rope_freqs.weight for Llama 3 rope scaling."""
    import numpy as np

    out = []
    for freq in 1.0 / (theta ** (np.arange(0, dim, 2, dtype=np.float32) / dim)):
        wavelen = 2 * math.pi / freq
        if wavelen < old_ctx / high:
            out.append(1.0)
        elif wavelen > old_ctx / low:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


# ---- tensors ----


def _dequantize(tensor: Any) -> Any:
    """float32 numpy array in numpy (row-major) order; GGUFReader lists dims innermost first."""
    import gguf
    import numpy as np

    shape = tuple(int(d) for d in reversed(tensor.shape))
    try:
        data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    except NotImplementedError as exc:
        raise GGUFImportError(
            f"tensor {tensor.name} has type {tensor.tensor_type.name}, which cannot be dequantized"
        ) from exc
    return np.ascontiguousarray(data, dtype=np.float32).reshape(shape)


def _unpermute(data: Any, n_head: int) -> Any:
    """llama.cpp's interleaved q/k rows -> HF's rotate-halves order (inverse of convert_hf_to_gguf's permute)."""
    shape = data.shape
    return data.reshape(n_head, shape[0] // n_head // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def _to_bf16_bits(data: Any) -> Any:
    """float32 -> bfloat16 bit patterns (uint16), rounded to nearest even; numpy has no bfloat16 type."""
    import numpy as np

    bits = np.ascontiguousarray(data, dtype=np.float32).view(np.uint32).astype(np.uint64)  # no wrap-around
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def _tensor_bytes(plan: list[tuple[str, Any, int]], dtype: str) -> Iterator[tuple[str, tuple[int, ...], bytes]]:
    for hf, tensor, heads in plan:
        data = _dequantize(tensor)
        if heads:
            data = _unpermute(data, heads)
        yield hf, data.shape, (_to_bf16_bits(data) if dtype == "bfloat16" else data).tobytes()


def _write_safetensors(path: Path, plan: list[tuple[str, Any, int]], dtype: str) -> None:
    """A safetensors file written one tensor at a time: memory stays at one tensor, not the model."""
    width, code = (2, "BF16") if dtype == "bfloat16" else (4, "F32")
    header: dict[str, Any] = {"__metadata__": {"format": "mlx"}}
    offset = 0
    for hf, tensor, _ in plan:
        dims = [int(d) for d in reversed(tensor.shape)]
        size = math.prod(dims) * width
        header[hf] = {"dtype": code, "shape": dims, "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the spec pads the header to a multiple of 8 bytes
    with open(path, "wb") as fh:
        fh.write(len(head).to_bytes(8, "little") + head)
        for hf, shape, data in _tensor_bytes(plan, dtype):
            if len(data) != header[hf]["data_offsets"][1] - header[hf]["data_offsets"][0]:
                raise GGUFImportError(f"tensor {hf}: dequantized to shape {shape}, not {header[hf]['shape']}")
            fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
