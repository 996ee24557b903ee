"""train.gguf_convert: a real GGUF (exported from tiny) back to an mlx-lm folder, and every refusal on the way."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.core.errors import GGUFImportError
from forge_mcp.deploy.gguf_export import export_gguf
from forge_mcp.train.gguf_convert import convert_gguf, llama3_rope_factors
from tests.train.conftest import rewrite_gguf, weights


@pytest.fixture(scope="module", autouse=True)
def _no_mlx_compile() -> Iterator[None]:
    import mlx.core as mx

    mx.disable_compile()  # mx.compile builds C++ on first use (~25 s on CPU)
    yield
    mx.enable_compile()


@pytest.fixture(scope="module")
def tiny_f32(tiny_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_gguf(tiny_path, tmp_path_factory.mktemp("gguf-convert") / "tiny.gguf", "f32").path


def test_an_f32_file_comes_back_exactly(tiny_f32: Path, tiny_path: Path, tmp_path: Path) -> None:
    import mlx_lm

    summary = convert_gguf(tiny_f32, tmp_path)
    original, converted = weights(tiny_path), weights(tmp_path)
    assert converted.keys() == original.keys()
    assert all((converted[k] == original[k]).all() for k in original)  # q/k rows un-permuted back
    config, source = (
        json.loads((tmp_path / "config.json").read_text()),
        json.loads((tiny_path / "config.json").read_text()),
    )
    for key in ("hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "vocab_size"):
        assert config[key] == source[key], key
    assert config["num_key_value_heads"] == source["num_key_value_heads"] and config["rms_norm_eps"] == 1e-05
    assert config["model_type"] == "llama" and config["torch_dtype"] == "float32" and "rope_scaling" not in config
    assert config["eos_token_id"] == summary["tokenizer"]["eos_token_ids"]
    generation = json.loads((tmp_path / "generation_config.json").read_text())
    assert generation == {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]}
    assert summary["architecture"] == "llama" and summary["dtype"] == "float32" and summary["rope_scaling"] is None
    assert summary["tensor_types"] == {"F32": len(original)}
    assert summary["n_params"] == sum(v.size for v in original.values())
    assert (tmp_path / "tokenizer.json").is_file() and summary["tokenizer"]["family"] == "gpt2"
    mlx_lm.load(str(tmp_path))


def test_above_the_size_limit_weights_are_bf16(tiny_f32: Path, tiny_path: Path, tmp_path: Path) -> None:
    import mlx.core as mx

    assert convert_gguf(tiny_f32, tmp_path, big_model_params=0)["dtype"] == "bfloat16"
    loaded: dict[str, Any] = mx.load(str(tmp_path / "model.safetensors"))
    original: dict[str, Any] = mx.load(str(tiny_path / "model.safetensors"))
    assert all(v.dtype == mx.bfloat16 and mx.array_equal(v, original[k].astype(mx.bfloat16)) for k, v in loaded.items())


def test_a_quantized_file_is_dequantized_close_to_the_original(tiny_path: Path, tmp_path: Path) -> None:
    import numpy as np

    q8 = export_gguf(tiny_path, tmp_path / "tiny-q8_0.gguf", "q8_0").path
    out = tmp_path / "model"
    out.mkdir()
    assert convert_gguf(q8, out)["tensor_types"].get("Q8_0", 0) > 0
    original, converted = weights(tiny_path), weights(out)
    for name, value in original.items():
        assert np.abs(converted[name] - value).max() <= 0.02 * max(np.abs(value).max(), 1e-6), name


def test_linear_rope_scaling_and_plain_rope_freqs(tiny_f32: Path, tmp_path: Path) -> None:
    linear = rewrite_gguf(
        tiny_f32,
        tmp_path / "linear.gguf",
        fields={"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": 2.0},
    )
    (tmp_path / "a").mkdir()
    assert convert_gguf(linear, tmp_path / "a")["rope_scaling"] == {
        "type": "linear",
        "rope_type": "linear",
        "factor": 2.0,
    }
    ones = rewrite_gguf(tiny_f32, tmp_path / "ones.gguf", extra={"rope_freqs.weight": [1.0] * 8})
    (tmp_path / "b").mkdir()
    summary = convert_gguf(ones, tmp_path / "b")
    assert summary["rope_scaling"] is None and "rope_freqs.weight" not in weights(tmp_path / "b")


def test_llama3_rope_factors() -> None:
    factors = llama3_rope_factors(500000.0, 128, 8.0, 1.0, 4.0, 8192)  # Llama 3.1
    assert factors.shape == (64,) and factors[0] == 1.0 and factors[-1] == 8.0
    assert all(a <= b for a, b in zip(factors[:-1], factors[1:], strict=True))  # longer wavelengths scale more
    assert all(1.0 <= f <= 8.0 for f in factors) and len(set(factors.tolist())) > 2
    assert math.isclose(float(llama3_rope_factors(10000.0, 16, 1.0, 1.0, 4.0, 8192).max()), 1.0)


REFUSALS = [
    ({"arch": "gemma3"}, "unsupported GGUF architecture 'gemma3'"),
    ({"fields": {"llama.attention.value_length": 8}}, "different key and value head sizes"),
    ({"fields": {"llama.rope.dimension_count": 8}}, "partial rotary embeddings"),
    ({"fields": {"llama.rope.scaling.type": "yarn"}}, "rope scaling type 'yarn' is not supported"),
    ({"fields": {"split.count": 2}}, "one part of a split GGUF"),
    ({"fields": {"tokenizer.ggml.model": "llama"}}, "tiny-odd.gguf: the GGUF's tokenizer is SentencePiece"),
    ({"drop": ("llama.block_count",)}, "the GGUF lacks llama.block_count"),
    ({"drop": ("blk.1.ffn_up.weight",)}, r"lacks tensors \['blk.1.ffn_up.weight'\]"),
    ({"extra": {"blk.0.ffn_gate_exps.weight": [[0.0] * 4] * 4}}, "has no llama counterpart"),
    ({"extra": {"blk.0.attn_q.bias": [0.0] * 64}}, "biases on only some attention/MLP projections"),
    ({"arch": "qwen2"}, "a qwen2 GGUF must have q/k/v biases"),
    (
        {
            "fields": {"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": 2.0},
            "extra": {"rope_freqs.weight": [2.0] * 8},
        },
        "rope_freqs.weight together with rope scaling",
    ),
    ({"extra": {"rope_freqs.weight": [3.3] * 8}}, "matches no Llama 3 rope scaling"),
]


@pytest.mark.parametrize(("change", "message"), REFUSALS)
def test_what_cannot_be_converted_exactly_is_refused(
    tiny_f32: Path, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    odd = rewrite_gguf(tiny_f32, tmp_path / "tiny-odd.gguf", **change)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(GGUFImportError, match=message):
        convert_gguf(odd, out)
    assert not (out / "model.safetensors").exists()


def test_damaged_or_empty_files_are_refused(tiny_f32: Path, tmp_path: Path) -> None:
    data = tiny_f32.read_bytes()
    (tmp_path / "half.gguf").write_bytes(data[: len(data) // 2])
    with pytest.raises(GGUFImportError, match="truncated|corrupt"):
        convert_gguf(tmp_path / "half.gguf", tmp_path)
    (tmp_path / "text.gguf").write_text("not a gguf")
    with pytest.raises(GGUFImportError, match="not a readable GGUF file"):
        convert_gguf(tmp_path / "text.gguf", tmp_path)
    import gguf

    tensors = tuple(t.name for t in gguf.GGUFReader(tiny_f32).tensors)
    with pytest.raises(GGUFImportError, match="holds no tensors"):
        convert_gguf(rewrite_gguf(tiny_f32, tmp_path / "empty.gguf", drop=tensors), tmp_path)
