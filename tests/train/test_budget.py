"""The budget plan: what it chooses for a machine, a model, a dataset and a time budget, and why."""

from __future__ import annotations

from forge_mcp.train.budget import expected_rates, plan_budget, token_flops
from forge_mcp.train.hardware import shape_of_known
from forge_mcp.train.machine import Machine

SMOL = shape_of_known("smollm2-135m")
LENGTHS = [120 + (i * 37) % 300 for i in range(400)]  # training examples, 120-419 tokens
REFERENCES = [20 + (i * 13) % 140 for i in range(40)]


def machine(accelerator: str = "cpu", openblas: bool = True, cores: int = 2) -> Machine:
    return Machine(
        os="Darwin" if accelerator == "apple-silicon" else "Linux",
        arch="x86_64",
        cpu="test",
        cores=cores,
        memory_bytes=24 * 2**30,
        accelerator=accelerator,
        openblas="/usr/lib/libopenblas.so.0" if openblas else None,
        mlx_backend="cpu",
    )


def test_the_throughput_model_matches_the_measurements() -> None:
    assert SMOL is not None
    all_blocks, _, generate = expected_rates(machine(), SMOL, 30)
    top8 = expected_rates(machine(), SMOL, 8)[0]
    assert 90 <= all_blocks <= 130 and 130 <= top8 <= 180  # measured ~110 and ~150 on 2 cores with OpenBLAS
    assert 40 <= generate <= 65  # measured 52 tokens/s for 16 completions side by side
    assert expected_rates(machine(openblas=False), SMOL, 30)[0] < all_blocks / 10
    assert token_flops(SMOL, 8) < token_flops(SMOL, 30)


def test_a_cpu_with_openblas_trains_all_blocks_within_the_budget() -> None:
    assert SMOL is not None
    plan = plan_budget(machine(), SMOL, 15, LENGTHS, REFERENCES, test_examples=40)
    assert plan.profile == "quick" and plan.num_layers == -1 and plan.iters >= 40
    assert plan.estimated_train_seconds + plan.estimated_validation_seconds <= 15 * 60
    assert plan.steps_per_eval == plan.iters // 2 and plan.val_batches == 4  # loss passes cost time too
    assert plan.max_seq_length >= 384 and plan.max_seq_length % 32 == 0  # 95 % of the examples fit
    assert 64 <= plan.max_tokens <= 192 and plan.max_examples <= 32
    assert any("all 30 of 30 blocks" in r for r in plan.reasons) and "OpenBLAS" in plan.reasons[0]


def test_a_slow_machine_gets_fewer_blocks_and_says_why() -> None:
    assert SMOL is not None
    plan = plan_budget(machine(openblas=False), SMOL, 10, LENGTHS, REFERENCES, test_examples=40)
    assert plan.num_layers == 8 and plan.iters >= 20
    assert "reference BLAS" in plan.reasons[0] and any("fewer blocks" in r for r in plan.reasons)
    assert "install OpenBLAS" in plan.reasons[-1]  # it cannot fit 10 minutes, and says what would


def test_a_bigger_budget_buys_more_steps_and_apple_silicon_gets_the_full_profile() -> None:
    assert SMOL is not None
    small = plan_budget(machine(), SMOL, 5, LENGTHS, REFERENCES, test_examples=40)
    large = plan_budget(machine(), SMOL, 30, LENGTHS, REFERENCES, test_examples=40)
    assert large.iters > small.iters
    full = plan_budget(machine("apple-silicon"), SMOL, 5, LENGTHS, REFERENCES, test_examples=40)
    assert full.profile == "full" and full.num_layers == -1 and full.iters == 200 and full.max_examples == 40
