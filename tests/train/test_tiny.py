import hashlib
from pathlib import Path

from forge_mcp.train.tiny import build_tiny_model
from tests.train.conftest import CORPUS


def test_tiny_model_loads_with_mlx_lm_and_chats(tiny_path: Path) -> None:
    import mlx.core as mx
    import mlx_lm

    model, tokenizer = mlx_lm.load(str(tiny_path))
    ids = tokenizer.encode("def add(a, b):\n    return a + b\n")
    assert tokenizer.decode(ids) == "def add(a, b):\n    return a + b\n"  # byte-level BPE round-trips
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert tokenizer.decode(prompt) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.eos_token == "<|im_end|>"
    logits = model(mx.array([ids]))
    assert logits.shape == (1, len(ids), tokenizer.vocab_size) and logits.dtype == mx.float32
    assert (tiny_path / "forge_tiny.json").is_file()


def test_same_corpus_same_model(tiny_path: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again", CORPUS)

    def digest(p):
        return hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()

    assert digest(again) == digest(tiny_path)
    assert (again / "tokenizer.json").read_text() == (tiny_path / "tokenizer.json").read_text()
