"""Each method's defining property, on the tiny model, in-process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from forge_mcp.train.methods import AdapterSpec, adapter_config, adapter_weights, apply_adapters


def _batch(tokenizer):
    import mlx.core as mx

    text = "def add(a, b):\n    return a + b\n" * 3
    return mx.array([tokenizer.encode(text)] * 2)


def _train(model, x, steps: int = 40, lr: float = 3e-3) -> list[float]:
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    def loss_fn(m, tokens):
        return nn.losses.cross_entropy(m(tokens[:, :-1]), tokens[:, 1:]).mean()

    step = nn.value_and_grad(model, loss_fn)
    opt = optim.Adam(learning_rate=lr)
    losses = []
    for _ in range(steps):
        loss, grads = step(model, x)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("method", ["lora", "dora", "pissa"])
@pytest.mark.parametrize("rora", [False, True])
def test_each_method_trains_and_loss_falls(tiny_path: Path, method: str, rora: bool) -> None:
    import mlx_lm
    from mlx.utils import tree_flatten

    model, tokenizer = mlx_lm.load(str(tiny_path))
    spec = AdapterSpec(method=method, rank=4, alpha=8, rora=rora)
    apply_adapters(model, spec)
    trainable = dict(tree_flatten(model.trainable_parameters()))
    assert trainable and all(".lora_" in k or k.endswith(".m") for k in trainable)
    losses = _train(model, _batch(tokenizer))
    assert min(losses[-5:]) < losses[0] * 0.85, losses


def test_rora_scale() -> None:
    assert AdapterSpec(rank=16, alpha=32).scale == 2.0
    assert AdapterSpec(rank=16, alpha=32, rora=True).scale == 8.0


def test_pissa_starts_equal_to_the_base_and_exports_for_the_original_base(tiny_path: Path, tmp_path: Path) -> None:
    import mlx.core as mx
    import mlx_lm

    model, tokenizer = mlx_lm.load(str(tiny_path))
    x = _batch(tokenizer)
    base = model(x)
    spec = AdapterSpec(method="pissa", rank=4, alpha=8)
    init = apply_adapters(model, spec)
    layer = model.model.layers[0].self_attn.q_proj
    assert mx.abs(layer.lora_b).max().item() > 0.01  # principal components, not LoRA's zero B
    assert mx.abs(model(x) - base).max().item() < 1e-4  # ...yet the same outputs at step 0
    _train(model, x, steps=10)
    trained = model(x)
    assert mx.abs(trained - base).max().item() > 0.1
    mx.save_safetensors(str(tmp_path / "adapters.safetensors"), adapter_weights(model, spec, init))
    (tmp_path / "adapter_config.json").write_text(json.dumps(adapter_config(spec, 2)))
    assert json.loads((tmp_path / "adapter_config.json").read_text())["lora_parameters"]["rank"] == 8
    reloaded, _ = mlx_lm.load(str(tiny_path), adapter_path=str(tmp_path))  # the original base + rank-2r LoRA
    assert mx.abs(reloaded(x) - trained).max().item() < 1e-3


@pytest.mark.parametrize("method", ["qlora", "qpissa"])
def test_quantized_bases_train(tiny_path: Path, tmp_path: Path, method: str) -> None:
    import mlx.core as mx
    import mlx.nn as nn
    import mlx_lm
    from mlx_lm import convert

    q4 = tmp_path / "tiny-q4"
    convert(str(tiny_path), mlx_path=str(q4), quantize=True, q_bits=4, q_group_size=64)
    model, tokenizer = mlx_lm.load(str(q4))
    assert isinstance(model.model.layers[0].self_attn.q_proj, nn.QuantizedLinear)
    x = _batch(tokenizer)
    base = model(x)
    apply_adapters(model, AdapterSpec(method=method, rank=4, alpha=8))
    start = model(x)
    drift = mx.abs(start - base).max().item()
    assert math.isfinite(drift) and drift < (1e-4 if method == "qlora" else 1.0)  # QPiSSA re-quantises W_res
    losses = _train(model, x)
    assert min(losses[-5:]) < losses[0] * 0.85, losses
