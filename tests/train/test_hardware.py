import pytest
from pydantic import ValidationError

from forge_mcp.core.errors import ForgeError, PlanError
from forge_mcp.train.hardware import (
    BUDGET_FRACTION,
    CURATED_CODER_MODELS,
    GIB,
    ModelShape,
    TrainConfigShape,
    check_fits,
    estimate_memory,
    recommend,
    recommend_base_models,
    shape_of_known,
)
from forge_mcp.train.machine import Machine, detect_machine


def _apple(gib: int) -> Machine:
    return Machine(
        os="Darwin",
        arch="arm64",
        cpu="Apple M2",
        cores=8,
        memory_bytes=gib * GIB,
        accelerator="apple-silicon",
        chip="Apple M2",
        mlx_backend="metal",
    )


def _cpu(gib: int, openblas: str | None = None) -> Machine:
    return Machine(
        os="Linux",
        arch="x86_64",
        cpu="x86",
        cores=4,
        memory_bytes=gib * GIB,
        accelerator="cpu",
        openblas=openblas,
        mlx_backend="cpu",
    )


LLAMA = {
    "model_type": "llama",
    "hidden_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "intermediate_size": 1376,
    "vocab_size": 1000,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
Q7B = shape_of_known("Qwen/Qwen2.5-Coder-7B-Instruct")


def _cfg(**kw: object) -> TrainConfigShape:
    return TrainConfigShape(**{"method": "lora", **kw})


def test_from_config_llama_counts_params_by_hand() -> None:
    s = ModelShape.from_config(LLAMA, name="tiny")
    h, kv, i, v = 512, 2 * 64, 1376, 1000
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * i + 2 * h  # q, o; k, v; gate, up, down; two RMSNorms
    assert s.params == 4 * per_layer + 2 * v * h + h  # + embeddings, lm_head, final norm
    assert (s.bits, s.dtype_bits, s.num_kv_heads, s.name) == (16, 16, 2, "tiny")
    tied = ModelShape.from_config({**LLAMA, "tie_word_embeddings": True})
    assert tied.params == s.params - v * h


def test_from_config_quantized_and_qwen_biases() -> None:
    q = ModelShape.from_config({**LLAMA, "quantization": {"bits": 4, "group_size": 32}})
    assert (q.bits, q.group_size) == (4, 32)
    qwen = ModelShape.from_config({**LLAMA, "model_type": "qwen2"})
    assert qwen.params == ModelShape.from_config(LLAMA).params + 4 * (512 + 2 * 128)
    f32 = ModelShape.from_config({**LLAMA, "torch_dtype": "float32"})
    assert (f32.bits, f32.dtype_bits) == (32, 32)


def test_known_shapes_match_published_sizes() -> None:
    sizes = {"0.5B": 0.49e9, "1.5B": 1.54e9, "3B": 3.09e9, "7B": 7.62e9, "14B": 14.7e9, "32B": 32.8e9}
    for tag, params in sizes.items():
        s = shape_of_known(f"Qwen2.5-Coder-{tag}-Instruct")
        assert s is not None and abs(s.params - params) / params < 0.02, tag
    assert shape_of_known("mlx-community/Qwen2.5-Coder-7B-Instruct-4bit").bits == 4
    assert shape_of_known("meta-llama/Llama-3-8B") is None
    assert all(shape_of_known(n) is not None for n in CURATED_CODER_MODELS)


def test_estimate_is_monotonic() -> None:
    m = _cpu(64)
    base = estimate_memory(Q7B, _cfg(), m).total_bytes
    for change in (
        {"batch_size": 8},
        {"seq_len": 1024},
        {"rank": 32},
        {"keys": ["q_proj", "v_proj", "gate_proj", "down_proj"]},
    ):
        assert estimate_memory(Q7B, _cfg(**change), m).total_bytes > base, change
    assert estimate_memory(Q7B, _cfg(method="qlora"), m).total_bytes < base
    assert (
        estimate_memory(Q7B, _cfg(method="qpissa"), m).weights_bytes
        < estimate_memory(Q7B, _cfg(method="pissa"), m).weights_bytes
    )
    assert estimate_memory(Q7B, _cfg(method="dora"), m).adapter_bytes > estimate_memory(Q7B, _cfg(), m).adapter_bytes
    plain, ckpt = (estimate_memory(Q7B, _cfg(batch_size=8, seq_len=2048, grad_checkpoint=g), m) for g in (False, True))
    assert ckpt.activations_bytes < plain.activations_bytes / 4


def test_estimate_components() -> None:
    e = estimate_memory(Q7B, _cfg(method="qlora", batch_size=1), _apple(16))
    assert e.weights_bytes == pytest.approx(Q7B.params * 4.5 / 8, rel=0.01)  # ~4.5 bits per weight
    adapter_params = e.adapter_bytes // 4
    assert e.optimizer_bytes == 2 * adapter_params * 4 and e.gradients_bytes == adapter_params * 4
    assert e.total_bytes == pytest.approx(e.mlx_peak_bytes * 1.1 + 300 * 1024**2, rel=1e-6)
    assert e.budget_bytes == int(16 * GIB * BUDGET_FRACTION) and e.fits
    assert "GiB" in e.breakdown and "weights" in e.breakdown
    cuda = Machine(
        os="Linux",
        arch="x86_64",
        cpu="x",
        cores=8,
        memory_bytes=256 * GIB,
        accelerator="cuda",
        chip="NVIDIA H100",
        gpu_memory_bytes=80 * GIB,
        mlx_backend="cuda",
    )
    assert estimate_memory(Q7B, _cfg(), cuda).budget_bytes == int(80 * GIB * BUDGET_FRACTION)


def test_keys_accept_mlx_spelling_and_reject_unknown() -> None:
    assert _cfg(keys=["self_attn.q_proj", "mlp.down_proj"]).keys == ["q_proj", "down_proj"]
    with pytest.raises(ValidationError):
        _cfg(keys=["lm_head"])


def test_oversized_configuration_is_refused_with_numbers() -> None:
    with pytest.raises(PlanError) as info:
        check_fits(Q7B, _cfg(batch_size=8, seq_len=2048), _apple(16))
    msg = str(info.value)
    assert isinstance(info.value, ForgeError)
    assert "needs" in msg and "weights 14.2" in msg and "13.6 GiB" in msg and "16.0 GiB" in msg
    assert "activations" in msg and "batch 8 x 2048" in msg
    # no single change is enough: the combination that fits is named
    assert "use qlora rank 8 with a batch of 1 x 512 tokens and gradient checkpointing" in msg


def test_refusal_suggests_single_changes_that_fit() -> None:
    m = _apple(16)
    with pytest.raises(PlanError) as info:
        check_fits(Q7B, _cfg(method="qlora", batch_size=8, seq_len=512), m)
    msg = str(info.value)
    assert "a batch of" in msg
    b = int(msg.split("a batch of ")[1].split(",")[0].split(" ")[0])
    assert check_fits(Q7B, _cfg(method="qlora", batch_size=b, seq_len=512), m).fits
    with pytest.raises(PlanError, match="use qlora"):
        check_fits(Q7B, _cfg(batch_size=1, seq_len=256), _apple(18))


@pytest.mark.parametrize(
    "machine", [_apple(8), _apple(16), _apple(64), detect_machine()], ids=["8G", "16G", "64G", "here"]
)
def test_recommendations_fit(machine: Machine) -> None:
    for name in ("Qwen2.5-Coder-1.5B-Instruct", "Qwen2.5-Coder-7B-Instruct"):
        shape = shape_of_known(name)
        assert shape is not None
        try:
            plan = recommend(shape, machine)
        except PlanError:
            assert machine.memory_bytes <= 8 * GIB and "7B" in name  # only a 7B on 8 GiB may be refused
            continue
        assert plan.estimate.fits and check_fits(shape, plan.config, machine).total_bytes <= plan.estimate.budget_bytes
        assert plan.config.seq_len >= 512


def test_recommend_picks_qlora_only_when_16_bit_does_not_fit() -> None:
    assert recommend(Q7B, _apple(16)).config.method == "qlora"  # 14 GiB of bf16 weights > 13.6 GiB budget
    assert recommend(Q7B, _apple(64)).config.method == "lora"
    q4 = shape_of_known("mlx-community/Qwen2.5-Coder-7B-Instruct-4bit")
    assert q4 is not None and recommend(q4, _apple(64)).config.method == "qlora"  # a 4-bit base is QLoRA already
    assert recommend(Q7B, _apple(64), method="dora").config.method == "dora"  # an explicit method is respected
    plan = recommend(Q7B, _apple(64), seq_len=256)
    assert plan.config.seq_len == 256


def test_recommend_larger_machine_allows_more() -> None:
    small, big = recommend(Q7B, _apple(24), method="qlora").config, recommend(Q7B, _apple(64), method="qlora").config
    assert (small.seq_len, small.batch_size, small.rank) <= (big.seq_len, big.batch_size, big.rank)


def test_nothing_fits_raises_with_numbers() -> None:
    big = shape_of_known("Qwen2.5-Coder-32B-Instruct")
    assert big is not None
    with pytest.raises(PlanError) as info:
        recommend(big, _apple(8))
    msg = str(info.value)
    assert "smallest configuration tried" in msg and "batch 1 x 256" in msg and "rank 8" in msg
    assert "needs" in msg and "6.8 GiB" in msg and "smaller base model" in msg
    with pytest.raises(PlanError):
        recommend(big, _apple(8), method="sgd")


def test_notes_mention_openblas() -> None:
    shape = shape_of_known("Qwen2.5-Coder-0.5B")
    assert shape is not None
    lib = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"
    assert any("OpenBLAS found" in n for n in recommend(shape, _cpu(16, lib)).notes)
    assert any("libopenblas0-pthread" in n for n in recommend(shape, _cpu(16)).notes)
    assert any("wired_limit" in n for n in recommend(shape, _apple(16)).notes)


def test_recommend_base_models_scales_with_memory() -> None:
    small, big = recommend_base_models(_apple(8)), recommend_base_models(_apple(64))
    assert small and set(small) < set(big) and all(n.startswith("mlx-community/") for n in big)
    assert "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit" in big
    assert "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit" not in small


# Peaks measured with mlx 0.32.4 (CPU, mx.get_peak_memory over LoRA training steps of random-weight models,
# qwen2 layout: 8 heads, 2 kv heads, tied embeddings): the estimator's constants were fitted on these.
_MEASURED = [  # (hidden, layers, intermediate, vocab, float dtype, method, batch, seq, rank, checkpoint, keys, MiB)
    (256, 4, 1408, 8192, "bfloat16", "lora", 4, 256, 8, False, 4, 182.3),
    (256, 4, 1408, 8192, "bfloat16", "lora", 2, 1024, 8, False, 4, 450.3),
    (256, 8, 1408, 8192, "bfloat16", "lora", 1, 1024, 8, False, 4, 385.1),
    (512, 4, 1408, 8192, "bfloat16", "lora", 4, 256, 8, False, 4, 236.1),
    (256, 4, 1408, 32768, "float32", "lora", 4, 256, 8, False, 4, 732.2),
    (256, 4, 1408, 8192, "bfloat16", "qlora", 4, 512, 8, False, 4, 380.3),
    (256, 4, 1408, 8192, "bfloat16", "dora", 4, 256, 8, False, 4, 187.9),
    (256, 4, 1408, 8192, "bfloat16", "lora", 4, 256, 16, False, 7, 229.7),
    (256, 4, 1408, 8192, "bfloat16", "lora", 4, 512, 8, True, 4, 220.3),
]
_ALL_KEYS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.mark.parametrize("row", _MEASURED)
def test_estimate_matches_measured_mlx_peaks(row: tuple) -> None:
    h, layers, i, v, dtype, method, b, s, r, ckpt, nkeys, mib = row
    shape = ModelShape.from_config(
        {
            **LLAMA,
            "model_type": "qwen2",
            "hidden_size": h,
            "num_hidden_layers": layers,
            "num_attention_heads": 8,
            "num_key_value_heads": 2,
            "intermediate_size": i,
            "vocab_size": v,
            "tie_word_embeddings": True,
            "torch_dtype": dtype,
        }
    )
    cfg = _cfg(method=method, batch_size=b, seq_len=s, rank=r, grad_checkpoint=ckpt, keys=_ALL_KEYS[:nkeys])
    predicted = estimate_memory(shape, cfg, _cpu(64)).mlx_peak_bytes / 1024**2
    # One set of constants for these bf16/f32 peaks and the tiny model's (bench/memory.py): all within 16%
    # (the plan's target is 25%); the attention-backward term trades a little here for the tiny model.
    assert predicted == pytest.approx(mib, rel=0.16)


def test_checkpointing_only_when_needed() -> None:
    plan = recommend(Q7B, _apple(24))  # 14.2 GiB of bf16 weights leave room for LoRA only with checkpointing
    assert plan.config.method == "lora" and plan.config.grad_checkpoint and plan.config.seq_len >= 512
    assert any("checkpointing" in n for n in plan.notes)
    assert not recommend(Q7B, _apple(64)).config.grad_checkpoint
