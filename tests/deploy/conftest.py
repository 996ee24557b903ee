"""Fixtures for the deploy tests: the tiny model, a qwen2-architecture twin, and trained-looking adapters."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.core.fsutil import atomic_write_json
from forge_mcp.train.tiny import TinySpec, build_tiny_model

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def sub(a, b):\n    return a - b\n",
    "class Stack:\n    def push(self, x):\n        self.items.append(x)\n",
    "def greet(name):\n    return f'hello {name}'\n",
] * 20


@pytest.fixture(scope="session", autouse=True)
def _no_mlx_compile() -> Iterator[None]:
    # mx.compile builds C++ with g++ on first use (~25 s cold on CPU): far more than these tests take.
    import mlx.core as mx

    mx.disable_compile()
    yield
    mx.enable_compile()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deploy-models")


@pytest.fixture(scope="session")
def tiny_path(models_dir: Path) -> Path:
    return build_tiny_model(models_dir / "tiny", CORPUS)


@pytest.fixture(scope="session")
def tiny256_path(models_dir: Path) -> Path:
    """Rows of 256 values: the smallest shape llama.cpp's K-quants (Q4_K_M) can hold."""
    return build_tiny_model(models_dir / "tiny256", CORPUS, TinySpec(hidden_size=256, intermediate_size=512))


@pytest.fixture(scope="session")
def qwen2_path(tiny_path: Path, models_dir: Path) -> Path:
    """A qwen2-architecture model (q/k/v biases, tied embeddings) with random weights and tiny's tokenizer."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import qwen2

    out = models_dir / "qwen2"
    out.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(tiny_path / name, out / name)
    config = json.loads((tiny_path / "config.json").read_text())
    config.update(
        model_type="qwen2", architectures=["Qwen2ForCausalLM"], tie_word_embeddings=True, rope_theta=1000000.0
    )
    atomic_write_json(out / "config.json", config)
    mx.random.seed(1)
    model = qwen2.Model(qwen2.ModelArgs.from_dict(config))
    mx.save_safetensors(str(out / "model.safetensors"), dict(tree_flatten(model.parameters())))
    return out


def make_adapter(base: Path, out: Path, method: str, seed: int = 0) -> Path:
    """An adapters folder as the training worker writes it, with lora_b randomly perturbed so that the
    adapter changes the model (a fresh LoRA has lora_b = 0; a fresh PiSSA reproduces the base)."""
    import mlx.core as mx
    import mlx_lm

    from forge_mcp.train.methods import AdapterSpec, adapter_config, adapter_weights, apply_adapters

    mx.random.seed(seed)
    model, _ = mlx_lm.load(str(base))
    spec = AdapterSpec(
        method=method,
        rank=4,
        alpha=8.0,
        keys=("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.down_proj"),
    )
    pissa = apply_adapters(model, spec)
    for _, layer in model.named_modules():
        if hasattr(layer, "lora_b"):
            layer.lora_b = layer.lora_b + 0.05 * mx.random.normal(layer.lora_b.shape)
    out.mkdir(parents=True)
    mx.save_safetensors(str(out / "adapters.safetensors"), adapter_weights(model, spec, pissa))
    atomic_write_json(out / "adapter_config.json", adapter_config(spec, len(model.layers)))
    return out


def logits(model_dir: Path, adapter: Path | None = None, text: str = "def add(a, b):") -> Any:
    import mlx.core as mx
    import mlx_lm

    model, tokenizer = mlx_lm.load(str(model_dir), adapter_path=None if adapter is None else str(adapter))
    out = model(mx.array([tokenizer.encode(text)]))
    mx.eval(out)
    return out


@pytest.fixture(scope="session")
def lora_adapter(tiny_path: Path, models_dir: Path) -> Path:
    return make_adapter(tiny_path, models_dir / "adapters-lora", "lora")


@pytest.fixture(scope="session")
def pissa_adapter(tiny_path: Path, models_dir: Path) -> Path:
    return make_adapter(tiny_path, models_dir / "adapters-pissa", "pissa", seed=1)


@pytest.fixture(scope="session")
def spm_path(models_dir: Path) -> Path:
    """A llama model with a SentencePiece (tokenizer.model, byte fallback) tokenizer, like Llama 2/Mistral."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama

    from forge_mcp.train.tiny import CHAT_TEMPLATE

    spm = pytest.importorskip("sentencepiece")

    out = models_dir / "spm"
    out.mkdir()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_prefix=str(out / "tokenizer"),
        vocab_size=300,
        model_type="bpe",
        byte_fallback=True,
        user_defined_symbols=["<|im_start|>", "<|im_end|>"],
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        minloglevel=2,
    )
    atomic_write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "LlamaTokenizer",
            "chat_template": CHAT_TEMPLATE,
            "legacy": True,
            "bos_token": "<s>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "add_bos_token": True,
            "added_tokens_decoder": {
                "3": {"content": "<|im_start|>", "special": True},
                "4": {"content": "<|im_end|>", "special": True},
            },
        },
    )
    config = TinySpec().config(300) | {"bos_token_id": 1, "eos_token_id": 2}
    atomic_write_json(out / "config.json", config)
    mx.random.seed(2)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    mx.save_safetensors(str(out / "model.safetensors"), dict(tree_flatten(model.parameters())))
    return out
