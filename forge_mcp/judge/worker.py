"""The generation worker: `python -m forge_mcp.judge.worker JOB_DIR`, one process per validation.

Like training, it never runs in the server process (mlx must not share stdout with the protocol, and a
crash must not take the server down). For each model of the job (a base, optionally with an adapter) it
generates greedy completions of the held-out prompts, stopping at the end of the unit, and measures the
mean token loss of the reference completions. Progress goes to stdout as JSON lines; results to a file.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from forge_mcp.fsutil import atomic_write_json
from forge_mcp.judge.units import unit_end

CHECK_EVERY = 8  # tokens between checks of whether the unit has closed


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _messages(prompt: str, completion: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "user", "content": prompt}]
    return messages + ([{"role": "assistant", "content": completion}] if completion is not None else [])


def generate_one(model: Any, tokenizer: Any, example: dict[str, str], max_tokens: int) -> tuple[str, int]:
    """Greedy decoding of one completion, stopped at the end of the unit; returns (text, tokens)."""
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    ids = tokenizer.apply_chat_template(_messages(example["prompt"]), add_generation_prompt=True, return_dict=False)
    text, count = "", 0
    for count, response in enumerate(stream_generate(model, tokenizer, ids, max_tokens=max_tokens,
                                                     sampler=make_sampler(temp=0.0)), start=1):
        text += response.text
        if count % CHECK_EVERY == 0 and unit_end(example["prompt"], text, example["language"]) is not None:
            break
    end = unit_end(example["prompt"], text, example["language"])
    return (text if end is None else text[:end]), count


def reference_loss(model: Any, tokenizer: Any, example: dict[str, str]) -> tuple[float, int]:
    """Summed cross-entropy of the reference completion's tokens given the prompt, and their count."""
    import mlx.core as mx
    import mlx.nn as nn

    full = tokenizer.apply_chat_template(_messages(example["prompt"], example["reference"]), return_dict=False)
    offset = len(tokenizer.apply_chat_template(_messages(example["prompt"]), add_generation_prompt=True,
                                               return_dict=False))
    tokens = mx.array(full)[None]
    logits = model(tokens[:, :-1]).astype(mx.float32)
    losses = nn.losses.cross_entropy(logits, tokens[:, 1:], reduction="none")[0, offset - 1:]
    return float(losses.sum().item()), int(losses.size)


def run_model(spec: dict[str, Any], examples: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    from mlx_lm import load

    started = time.perf_counter()
    model, tokenizer = load(spec["model"], adapter_path=spec.get("adapter"))
    model.eval()
    loaded = time.perf_counter()
    completions, generated, losses, counts = [], [], [], []
    for i, example in enumerate(examples, start=1):
        text, n = generate_one(model, tokenizer, example, max_tokens)
        loss, tokens = reference_loss(model, tokenizer, example)
        completions.append(text)
        generated.append(n)
        losses.append(loss / max(tokens, 1))
        counts.append(tokens)
        _emit(event="progress", label=spec["label"], done=i, total=len(examples))
    mean = sum(l * c for l, c in zip(losses, counts)) / max(sum(counts), 1)
    return {"completions": completions, "generated_tokens": generated, "token_losses": losses,
            "reference_tokens": counts, "mean_token_loss": mean, "perplexity": math.exp(min(mean, 50.0)),
            "load_seconds": loaded - started, "generate_seconds": time.perf_counter() - loaded}


def main(argv: list[str]) -> int:
    job_dir = Path(argv[0])
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    results = {spec["label"]: run_model(spec, job["examples"], job["max_tokens"]) for spec in job["models"]}
    atomic_write_json(job_dir / "results.json", results)
    _emit(event="done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
