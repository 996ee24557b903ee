"""export_gguf: the metadata, vocabulary and tensor layout llama.cpp needs (read back with gguf's reader)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.core.errors import ExportError
from forge_mcp.deploy.gguf_export import export_gguf, quantize_q4_k_m


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata key -> python value, tensor name -> reader tensor)."""
    import gguf

    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    return fields, {t.name: t for t in reader.tensors}


def test_f32_export_metadata_and_vocab(tiny_path: Path, tmp_path: Path) -> None:
    import gguf

    info = export_gguf(tiny_path, tmp_path / "tiny.gguf", "f32")
    meta, tensors = _read(info.path)
    config = json.loads((tiny_path / "config.json").read_text())
    tok = json.loads((tiny_path / "tokenizer.json").read_text())
    assert (info.arch, info.outtype, info.n_tensors) == ("llama", "f32", len(tensors))
    assert info.size_bytes == info.path.stat().st_size and len(info.sha256) == 64
    assert meta["general.architecture"] == "llama" and meta["general.name"]
    assert meta["llama.embedding_length"] == 64 and meta["llama.block_count"] == 2
    assert meta["llama.feed_forward_length"] == 192 and meta["llama.context_length"] == 2048
    assert (meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]) == (4, 2)
    assert meta["llama.rope.freq_base"] == 10000.0
    assert meta["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-5)
    assert meta["llama.vocab_size"] == config["vocab_size"] == len(meta["tokenizer.ggml.tokens"])
    assert (meta["tokenizer.ggml.model"], meta["tokenizer.ggml.pre"]) == ("gpt2", "gpt-2")
    assert len(meta["tokenizer.ggml.merges"]) == len(tok["model"]["merges"])
    assert (
        meta["tokenizer.chat_template"]
        == json.loads((tiny_path / "tokenizer_config.json").read_text())["chat_template"]
    )
    assert meta["tokenizer.ggml.eos_token_id"] == 2 and meta["tokenizer.ggml.padding_token_id"] == 0
    assert meta["tokenizer.ggml.add_bos_token"] is False
    reader = gguf.GGUFReader(info.path)
    types_field = reader.fields["tokenizer.ggml.token_type"]
    assert types_field.types == [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32]  # not UINT32
    types = meta["tokenizer.ggml.token_type"]
    assert types[:3] == [gguf.TokenType.CONTROL] * 3 and set(types[3:]) == {gguf.TokenType.NORMAL}
    assert {t.tensor_type for t in tensors.values()} == {gguf.GGMLQuantizationType.F32}
    assert {
        "token_embd.weight",
        "output.weight",
        "output_norm.weight",
        "blk.1.attn_q.weight",
        "blk.1.ffn_gate.weight",
        "blk.0.attn_norm.weight",
        "blk.0.ffn_norm.weight",
    } <= set(tensors)


def test_q_and_k_rows_are_permuted_for_llama(tiny_path: Path, tmp_path: Path) -> None:
    import mlx.core as mx
    import numpy as np

    from forge_mcp.deploy.gguf_export import _permute

    _, tensors = _read(export_gguf(tiny_path, tmp_path / "tiny.gguf", "f32").path)
    weights = mx.load(str(tiny_path / "model.safetensors"))
    q = np.array(weights["model.layers.0.self_attn.q_proj.weight"])
    v = np.array(weights["model.layers.0.self_attn.v_proj.weight"])
    assert np.array_equal(np.asarray(tensors["blk.0.attn_q.weight"].data), _permute(q, 4))
    assert not np.array_equal(np.asarray(tensors["blk.0.attn_q.weight"].data), q)
    assert np.array_equal(np.asarray(tensors["blk.0.attn_v.weight"].data), v)


@pytest.mark.parametrize(("outtype", "matrix_type"), [("f16", "F16"), ("q8_0", "Q8_0")])
def test_types_per_outtype_keep_norms_f32(tiny_path: Path, tmp_path: Path, outtype: str, matrix_type: str) -> None:
    info = export_gguf(tiny_path, tmp_path / f"tiny-{outtype}.gguf", outtype)
    meta, tensors = _read(info.path)
    for name, tensor in tensors.items():
        expected = "F32" if len(tensor.shape) == 1 else matrix_type
        assert tensor.tensor_type.name == expected, name
    assert meta["general.file_type"] == {"f16": 1, "q8_0": 7}[outtype]
    assert info.fallback_tensors == 0


def test_export_is_deterministic_and_atomic(tiny_path: Path, tmp_path: Path) -> None:
    first = export_gguf(tiny_path, tmp_path / "a.gguf", "q8_0")
    second = export_gguf(tiny_path, tmp_path / "a.gguf", "q8_0")
    assert first.sha256 == second.sha256
    assert [p.name for p in tmp_path.iterdir()] == ["a.gguf"]


def test_qwen2_export_uses_the_runtime_tokenizer_and_no_permutation(qwen2_path: Path, tmp_path: Path) -> None:
    import mlx.core as mx
    import numpy as np

    meta, tensors = _read(export_gguf(qwen2_path, tmp_path / "qwen2.gguf", "f32").path)
    assert meta["general.architecture"] == "qwen2" and meta["qwen2.rope.freq_base"] == 1000000.0
    # transformers loads a model_type qwen2 folder with Qwen2's own pre-tokenizer regex: so must llama.cpp.
    assert meta["tokenizer.ggml.pre"] == "qwen2"
    assert "output.weight" not in tensors  # tied embeddings: llama.cpp reuses token_embd
    weights = mx.load(str(qwen2_path / "model.safetensors"))
    for hf, name in (
        ("q_proj.weight", "attn_q.weight"),
        ("q_proj.bias", "attn_q.bias"),
        ("k_proj.bias", "attn_k.bias"),
    ):
        assert np.array_equal(
            np.asarray(tensors[f"blk.1.{name}"].data), np.array(weights[f"model.layers.1.self_attn.{hf}"])
        )


def test_unsupported_inputs_raise_export_error(tiny_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(tiny_path, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(config | {"model_type": "gemma3"}))
    with pytest.raises(ExportError, match="model_type 'gemma3'"):
        export_gguf(other, tmp_path / "x.gguf")
    (other / "config.json").write_text(json.dumps(config | {"quantization": {"bits": 4, "group_size": 64}}))
    with pytest.raises(ExportError, match="quantized"):
        export_gguf(other, tmp_path / "x.gguf")
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match="outtype"):
        export_gguf(other, tmp_path / "x.gguf", "q4_0")
    tok = json.loads((other / "tokenizer.json").read_text())
    tok["pre_tokenizer"] = {"type": "Whitespace"}
    tok["decoder"] = None
    (other / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ExportError, match="unsupported tokenizer"):
        export_gguf(other, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists() and not list(tmp_path.glob(".x.gguf*"))


def test_q4_k_m_refuses_rows_too_short_for_k_quants(tiny_path: Path, tmp_path: Path) -> None:
    src = export_gguf(tiny_path, tmp_path / "tiny.gguf", "f16").path
    with pytest.raises(ExportError, match=r"K-quants need rows that are a multiple of 256.*export q8_0"):
        quantize_q4_k_m(src, tmp_path / "tiny-q4_k_m.gguf")
    assert not (tmp_path / "tiny-q4_k_m.gguf").exists()


def test_sentencepiece_vocab(spm_path: Path, tmp_path: Path) -> None:
    import gguf

    meta, _ = _read(export_gguf(spm_path, tmp_path / "spm.gguf", "f16").path)
    assert (meta["tokenizer.ggml.model"], meta["tokenizer.ggml.pre"]) == ("llama", "default")
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    assert len(tokens) == len(meta["tokenizer.ggml.scores"]) == 300
    assert tokens[:5] == ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    assert types[:5] == [gguf.TokenType.UNKNOWN] + [gguf.TokenType.CONTROL] * 4
    assert types[tokens.index("<0x41>")] == gguf.TokenType.BYTE
    assert (meta["tokenizer.ggml.bos_token_id"], meta["tokenizer.ggml.eos_token_id"]) == (1, 2)
    assert meta["tokenizer.ggml.add_bos_token"] is True
