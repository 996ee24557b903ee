"""Fine-tuning methods on mlx-lm: LoRA, DoRA (mlx-lm's), PiSSA, and RoRA scaling for any of them.

QLoRA and QPiSSA are the same adapters on a 4-bit base (see models.py). PiSSA is not in mlx-lm: its
adapters start from the principal singular vectors of each adapted weight, and the frozen weight becomes
the residual, so at step 0 the model computes exactly what the base computes. Saved naively, PiSSA's A/B
would count the principal part twice on the original base; `export_adapter` writes instead a plain
rank-2r LoRA that is correct for the original base: A' = [A | A0], B' = [B ; -B0].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

METHODS: tuple[str, ...] = ("lora", "dora", "qlora", "pissa", "qpissa")
DEFAULT_KEYS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")


@dataclass(frozen=True)
class AdapterSpec:
    method: str = "lora"
    rank: int = 8
    alpha: float = 16.0
    rora: bool = False  # RoRA / rsLoRA scaling: alpha / sqrt(r) instead of alpha / r
    dropout: float = 0.0
    num_layers: int = -1  # adapted transformer blocks, counted from the top; -1 = all
    keys: tuple[str, ...] = DEFAULT_KEYS

    @property
    def scale(self) -> float:
        return self.alpha / (math.sqrt(self.rank) if self.rora else self.rank)

    @property
    def is_pissa(self) -> bool:
        return self.method in ("pissa", "qpissa")

    def lora_parameters(self, rank: int | None = None) -> dict[str, Any]:
        return {"rank": rank or self.rank, "scale": self.scale, "dropout": self.dropout, "keys": list(self.keys)}


@dataclass
class PissaInit:
    """The initial A0/B0 of every PiSSA layer (needed to export an adapter for the original base)."""

    initial: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def apply_adapters(model: Any, spec: AdapterSpec) -> PissaInit | None:
    """Freeze the model and add trainable adapters (PiSSA layers initialised from the SVD)."""
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model.freeze()
    linear_to_lora_layers(model, spec.num_layers, spec.lora_parameters(), use_dora=spec.method == "dora")
    if spec.is_pissa:
        return _pissa_init(model, spec)
    return None


def _lora_layers(model: Any) -> dict[str, Any]:
    from mlx_lm.tuner.lora import LoRALinear

    return {name: module for name, module in model.named_modules() if isinstance(module, LoRALinear)}


def _pissa_init(model: Any, spec: AdapterSpec) -> PissaInit:
    """W = U S Vh: A = Vh_r^T sqrt(S_r/s), B = (U_r sqrt(S_r/s))^T, frozen W_res = W - s B^T A^T."""
    import mlx.core as mx
    import mlx.nn as nn

    init = PissaInit()
    for name, layer in _lora_layers(model).items():
        base = layer.linear
        quantized = isinstance(base, nn.QuantizedLinear)
        weight = (
            mx.dequantize(base.weight, base.scales, base.biases, base.group_size, base.bits)
            if quantized
            else base.weight
        )
        w32 = weight.astype(mx.float32)
        u, s, vh = mx.linalg.svd(w32, stream=mx.cpu)  # SVD runs on the CPU stream in MLX
        r = spec.rank
        root = mx.sqrt(s[:r] / spec.scale)
        lora_a = vh[:r].T * root  # (in, r)
        lora_b = (u[:, :r] * root).T  # (r, out)
        residual = w32 - spec.scale * (lora_b.T @ lora_a.T)
        layer.lora_a, layer.lora_b = lora_a, lora_b
        if quantized:  # QPiSSA: the residual is what gets quantised
            layer.linear = nn.QuantizedLinear.from_linear(
                _as_linear(residual.astype(weight.dtype), base), base.group_size, base.bits
            )
        else:
            base.weight = residual.astype(weight.dtype)
        init.initial[name] = (mx.array(lora_a), mx.array(lora_b))
    model.freeze()
    model.unfreeze(keys=["lora_a", "lora_b"], strict=False)
    mx.eval(model.parameters())
    return init


def _as_linear(weight: Any, base: Any) -> Any:
    import mlx.nn as nn

    out_dims, in_dims = weight.shape
    linear = nn.Linear(in_dims, out_dims, bias="bias" in base)
    linear.weight = weight
    if "bias" in base:
        linear.bias = base.bias
    return linear


def adapter_weights(model: Any, spec: AdapterSpec, pissa: PissaInit | None) -> dict[str, Any]:
    """The adapter to save: trainable weights, or for PiSSA the rank-2r LoRA valid on the original base."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    weights = dict(tree_flatten(model.trainable_parameters()))
    if pissa is None:
        return weights
    for name, (a0, b0) in pissa.initial.items():
        weights[f"{name}.lora_a"] = mx.concatenate([weights[f"{name}.lora_a"], a0], axis=1)
        weights[f"{name}.lora_b"] = mx.concatenate([weights[f"{name}.lora_b"], -b0], axis=0)
    return weights


def adapter_config(spec: AdapterSpec, num_layers: int) -> dict[str, Any]:
    """mlx-lm's adapter_config.json (what `mlx_lm.load(..., adapter_path=...)` and fuse read); PiSSA is
    saved as a plain LoRA of rank 2r. `alpha = scale * rank` is what Ollama's adapter import reads."""
    rank = spec.rank * 2 if spec.is_pissa else spec.rank
    return {
        "fine_tune_type": "dora" if spec.method == "dora" else "lora",
        "num_layers": num_layers,
        "lora_parameters": spec.lora_parameters(rank),
        "lora_alpha": spec.scale * rank,
        "forge_method": spec.method,
        "forge_rora": spec.rora,
    }
