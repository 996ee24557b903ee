"""A training and validation profile that fits a time budget on this machine.

On Apple Silicon and CUDA the full profile applies. On a CPU-only machine the plan picks how many blocks get
adapters, the sequence length (from the data), the steps, and the validation size, from a throughput model
measured on mlx 0.32 (2 cores, Linux x86-64, SmolLM2-135M, December 2026):
- training: ~110 processed tokens/s with LoRA on all 30 blocks, ~150 on the top 8 (OpenBLAS); the cost of a
  token is the forward pass (2 FLOP per weight) plus the backward pass through the adapted blocks and the
  logits (2 more per weight there): that gives both figures within 5 % at ~30 GFLOP/s per core.
- MLX's bundled reference BLAS is 10-30x slower than OpenBLAS (measured 5.8 vs 142 GFLOP/s for sgemm).
- greedy generation is bound by per-step overhead: 11 tokens/s for one sequence, 52 for 16 side by side.
- LoRA on the top 8 blocks kept two thirds of the all-blocks perplexity gain; 40 steps gave most of 100's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from forge_mcp.train.hardware import ModelShape
from forge_mcp.train.machine import Machine

GFLOPS_PER_CORE = 30.0  # effective training/forward throughput with OpenBLAS (see the module docstring)
REFERENCE_BLAS_SLOWDOWN = 15.0  # MLX's bundled BLAS against OpenBLAS
GEN_STEPS_PER_SECOND = 3.3  # batched greedy decoding steps per second for a 135M model on 2 cores
GEN_BATCH = 16  # the judge decodes this many completions side by side
SMOL_PARAMS = 135e6
MIN_STEPS, GOOD_STEPS, MAX_STEPS = 20, 40, 200
FIXED_SECONDS = 40.0  # worker start, model loads, the first step's warm-up, twice (train and judge)
QUICK_VAL_BATCHES = 4  # validation-loss passes during a quick run: at the start, halfway and at the end
LEARNING_RATE = 6e-4  # measured on this repository: 2e-4 gave x0.775 of the base perplexity in 47 steps, 6e-4 x0.733
FULL_LEARNING_RATE = 2e-4  # 200 steps need less of a push (not measured on Metal/CUDA here)


class Profile(BaseModel):
    """What the plan chose, the throughput it expects, and why."""

    profile: Literal["full", "quick"]
    num_layers: int = Field(description="Blocks from the top that get adapters (-1: all)")
    max_seq_length: int
    iters: int
    learning_rate: float
    batch_size: int
    steps_per_eval: int = Field(description="Steps between validation-loss passes during training")
    val_batches: int = Field(description="Batches in each such pass")
    max_examples: int = Field(description="Held-out examples validated")
    max_tokens: int = Field(description="Tokens generated per held-out completion")
    train_tokens_per_second: float = Field(description="Expected processed tokens/s in training")
    generation_tokens_per_second: float = Field(description="Expected tokens/s of batched greedy generation")
    estimated_train_seconds: float
    estimated_validation_seconds: float
    budget_minutes: float
    reasons: list[str]


def token_flops(shape: ModelShape, adapted_layers: int) -> float:
    """FLOPs per processed training token: forward everywhere, backward through the adapted blocks and logits."""
    block = shape.linear_params() - (0 if shape.tie_word_embeddings else shape.vocab_size * shape.hidden_size)
    block //= max(shape.num_layers, 1)
    logits = shape.vocab_size * shape.hidden_size
    forward = 2 * (block * shape.num_layers + logits)
    return forward + 2 * (block * adapted_layers + logits)


def machine_gflops(machine: Machine) -> float:
    rate = GFLOPS_PER_CORE * min(machine.cores, 16)
    return rate if machine.openblas or machine.os != "Linux" else rate / REFERENCE_BLAS_SLOWDOWN


def expected_rates(machine: Machine, shape: ModelShape, adapted_layers: int) -> tuple[float, float, float]:
    """(training tokens/s, forward tokens/s, batched generation tokens/s) on this machine."""
    gflops = machine_gflops(machine) * 1e9
    train = gflops / token_flops(shape, adapted_layers)
    forward = gflops / (2 * shape.params)
    steps = GEN_STEPS_PER_SECOND * (machine.cores / 2) * min(1.0, SMOL_PARAMS / shape.params)
    blas = 1.0 if machine.openblas or machine.os != "Linux" else 1 / REFERENCE_BLAS_SLOWDOWN
    return train, forward, steps * GEN_BATCH * max(blas, 0.2)


def _percentile(values: Sequence[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 256


def plan_budget(
    machine: Machine,
    shape: ModelShape,
    budget_minutes: float,
    lengths: Sequence[int],
    reference_lengths: Sequence[int],
    test_examples: int,
    batch_size: int = 4,
) -> Profile:
    """Choose the profile; `lengths` are the token lengths of the training examples, `reference_lengths`
    those of the held-out completions (both counted with the model's tokenizer)."""
    seq = min(1024, max(128, 32 * math.ceil(_percentile(lengths, 0.95) / 32)))
    tokens = min(192, max(64, 16 * math.ceil(_percentile(reference_lengths, 0.9) / 16)))
    if machine.accelerator != "cpu":
        return _full(machine, shape, budget_minutes, seq, tokens, test_examples, batch_size)
    reasons = [
        f"CPU only ({machine.cores} cores, {'OpenBLAS' if machine.openblas else 'reference BLAS'}): "
        f"a quick profile for {budget_minutes:g} minutes of training and validation"
    ]
    examples = min(test_examples, 32) or 1
    _, forward, gen = expected_rates(machine, shape, shape.num_layers)
    ref_mean = sum(reference_lengths) / len(reference_lengths) if reference_lengths else tokens
    validation = 2 * (
        math.ceil(examples / GEN_BATCH) * tokens * GEN_BATCH / gen + examples * (ref_mean + 200) / forward
    )
    if validation > 0.4 * budget_minutes * 60 and examples > 16:
        examples = 16
        validation /= 2
        reasons.append("16 held-out examples: validation would take over 40 % of the budget")
    mean = sum(min(n, seq) for n in lengths) / len(lengths) if lengths else seq / 2
    # Three validation-loss passes during training (mlx-lm's first, halfway, last), forward only.
    evals = 3 * QUICK_VAL_BATCHES * batch_size * (sum(lengths) / len(lengths) if lengths else seq) / forward
    left = max(budget_minutes * 60 - validation - FIXED_SECONDS - evals, 0.0)
    layers, steps, rate = shape.num_layers, 0, 1.0
    for layers in sorted({shape.num_layers, min(16, shape.num_layers), min(8, shape.num_layers)}, reverse=True):
        rate = expected_rates(machine, shape, layers)[0]
        steps = int(left * rate / (batch_size * mean))
        if steps >= GOOD_STEPS:
            break
    steps = max(MIN_STEPS, min(MAX_STEPS, steps))
    reasons.append(
        f"LoRA on {'all ' if layers == shape.num_layers else 'the top '}{layers} of {shape.num_layers} "
        f"blocks for {steps} steps: about {rate:.0f} training tokens/s and {mean:.0f} tokens per example "
        + (
            "(all blocks keep the most gain per step)"
            if layers == shape.num_layers
            else "(fewer blocks train faster per step; all blocks would not reach 40 steps)"
        )
    )
    reasons.append(
        f"sequences up to {seq} tokens (95 % of the training examples fit), completions up to "
        f"{tokens} tokens (90 % of the held-out references fit)"
    )
    train_seconds = steps * batch_size * mean / rate
    if train_seconds + validation > budget_minutes * 60:
        reasons.append(
            f"this takes about {(train_seconds + validation) / 60:.0f} minutes, over the budget, even at "
            f"the fewest steps"
            + ("" if machine.openblas else ": install OpenBLAS (sudo apt-get install -y libopenblas0-pthread)")
        )
    return Profile(
        profile="quick",
        num_layers=-1 if layers == shape.num_layers else layers,
        max_seq_length=seq,
        iters=steps,
        learning_rate=LEARNING_RATE,
        batch_size=batch_size,
        steps_per_eval=max(steps // 2, 1),
        val_batches=QUICK_VAL_BATCHES,
        max_examples=examples,
        max_tokens=tokens,
        train_tokens_per_second=round(rate, 1),
        generation_tokens_per_second=round(gen, 1),
        estimated_train_seconds=round(train_seconds, 1),
        estimated_validation_seconds=round(validation, 1),
        budget_minutes=budget_minutes,
        reasons=reasons,
    )


def _full(
    machine: Machine,
    shape: ModelShape,
    budget_minutes: float,
    seq: int,
    tokens: int,
    test_examples: int,
    batch_size: int,
) -> Profile:
    train, _, gen = expected_rates(machine, shape, shape.num_layers)
    return Profile(
        profile="full",
        num_layers=-1,
        max_seq_length=seq,
        iters=MAX_STEPS,
        learning_rate=FULL_LEARNING_RATE,
        batch_size=batch_size,
        steps_per_eval=MAX_STEPS // 4,
        val_batches=8,
        max_examples=min(test_examples, 100) or 1,
        max_tokens=256,
        train_tokens_per_second=round(train, 1),
        generation_tokens_per_second=round(gen, 1),
        estimated_train_seconds=0.0,
        estimated_validation_seconds=0.0,
        budget_minutes=budget_minutes,
        reasons=[
            f"{machine.accelerator} ({machine.chip or machine.cpu}): the full profile (all blocks, "
            f"{MAX_STEPS} steps, up to 100 held-out examples)"
        ],
    )


TEMPLATE_TOKENS = 12  # the chat template's role markers around system, user and assistant turns


def measure_lengths(
    model_path: Path, dataset_path: Path, task: str, system: str | None
) -> tuple[list[int], list[int], int]:
    """Token lengths of the training examples and of the held-out references, with the model's own tokenizer
    (the `tokenizers` library alone: no model load), and the number of held-out examples."""
    from tokenizers import Tokenizer

    file = model_path / "tokenizer.json"
    if not file.is_file():  # a hub id not downloaded yet: characters / 3.5 is close for code

        def count(text: str) -> int:
            return len(text) * 2 // 7
    else:
        tokenizer = Tokenizer.from_file(str(file))

        def count(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=False).ids)

    head = count(system or "") + TEMPLATE_TOKENS
    lengths = [head + count(_row_text(row)) for row in _rows(dataset_path / task / "train.jsonl")]
    tests = _rows(dataset_path / "completion" / "test.jsonl")
    return lengths, [count(row.get("completion", "")) for row in tests], len(tests)


def _row_text(row: dict[str, Any]) -> str:
    if "messages" in row:
        return "".join(str(m.get("content", "")) for m in row["messages"])
    return str(row.get("text", "")) + str(row.get("prompt", "")) + str(row.get("completion", ""))


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
