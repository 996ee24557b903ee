"""`tiny`: a small llama-architecture model built locally from the repository's own text.

It exists so the whole loop (train, validate, export, deploy) runs offline, in tests and in the demo,
on machines that cannot download weights. It is not a useful code model: a byte-level BPE tokenizer
trained on the repository's chunks, a ChatML chat template, and f32 weights either freshly initialised
or briefly pretrained on the same text. Real use names a real mlx-lm model (e.g. an mlx-community 4-bit
coder model).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from forge_mcp.core.errors import ForgeError
from forge_mcp.core.fsutil import atomic_write_json

TINY = "tiny"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TinySpec:
    vocab_size: int = 1024
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 192  # a multiple of 64, so 4-bit quantisation (group size 64) applies
    max_position_embeddings: int = 2048
    seed: int = 0
    pretrain_steps: int = 0  # >0: a brief full-weight pass over the repo's text (benchmarks; slow on CPU)
    pretrain_seq: int = 128
    pretrain_batch: int = 8

    def config(self, vocab_size: int) -> dict[str, object]:
        return {
            "model_type": "llama",
            "architectures": ["LlamaForCausalLM"],
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "intermediate_size": self.intermediate_size,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "rms_norm_eps": 1e-5,
            "vocab_size": vocab_size,
            "max_position_embeddings": self.max_position_embeddings,
            "rope_theta": 10000.0,
            "tie_word_embeddings": False,
            "torch_dtype": "float32",
            "bos_token_id": None,
            "eos_token_id": 2,  # <|im_end|>: the third special token
        }


def build_tiny_model(out_dir: Path, corpus: Iterable[str], spec: TinySpec = TinySpec()) -> Path:
    """Train the tokenizer on `corpus`, initialise the weights, and write an mlx-lm loadable folder.

    The folder appears atomically; building twice from the same corpus and spec gives the same files.
    """
    texts = [t for t in corpus if t.strip()]
    if not texts:
        raise ForgeError("no text to build the tiny model's tokenizer from: chunk the repository first")
    tmp = out_dir.parent / f".{out_dir.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    vocab = _write_tokenizer(tmp, texts, spec.vocab_size)
    config = spec.config(vocab)
    atomic_write_json(tmp / "config.json", config)
    _write_weights(tmp, config, spec, texts)
    atomic_write_json(
        tmp / "forge_tiny.json",
        {
            "spec": asdict(spec),
            "corpus_sha256": corpus_digest(texts),
            "purpose": "offline test/demo model; not a useful code model",
        },
    )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def corpus_digest(texts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _write_tokenizer(folder: Path, texts: list[str], vocab_size: int) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    atomic_write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": 2048,
            "chat_template": CHAT_TEMPLATE,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "bos_token": None,
            "unk_token": None,
            "add_bos_token": False,
            "clean_up_tokenization_spaces": False,
        },
    )
    atomic_write_json(folder / "special_tokens_map.json", {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    return int(tokenizer.get_vocab_size())


def _write_weights(folder: Path, config: dict[str, object], spec: TinySpec, texts: list[str]) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama

    mx.random.seed(spec.seed)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    if spec.pretrain_steps:
        _pretrain(model, folder, texts, spec)
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "mlx"})


def _pretrain(model: Any, folder: Path, texts: list[str], spec: TinySpec) -> None:
    """Next-token training of all weights on random windows of the corpus (seeded, so reproducible)."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    import numpy as np
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    stream = np.array([t for enc in tokenizer.encode_batch(texts) for t in [*enc.ids, 0]], dtype=np.int32)
    window = min(spec.pretrain_seq, len(stream) - 1)
    rng = np.random.default_rng(spec.seed)

    def loss_fn(m: Any, tokens: Any) -> Any:
        return nn.losses.cross_entropy(m(tokens[:, :-1]), tokens[:, 1:]).mean()

    step = nn.value_and_grad(model, loss_fn)
    optimizer = optim.Adam(learning_rate=optim.cosine_decay(3e-3, spec.pretrain_steps, 3e-4))
    for _ in range(spec.pretrain_steps):
        starts = rng.integers(0, len(stream) - window, size=spec.pretrain_batch)
        batch = mx.array(np.stack([stream[i : i + window + 1] for i in starts]))
        _, grads = step(model, batch)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
