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

from forge_mcp.core.fsutil import atomic_write_json
from forge_mcp.judge.units import unit_end
from forge_mcp.train.formatting import encode_example, messages_of, prompt_ids, strip_lead

CHECK_EVERY = 8  # tokens between checks of whether the unit has closed
BATCH = 16  # completions decoded side by side


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def generate_all(
    model: Any, tokenizer: Any, examples: list[dict[str, str]], max_tokens: int, system: str | None, on_done: Any = None
) -> list[tuple[str, int]]:
    """Greedy completions of every example, decoded side by side (on CPU a batch of 16 costs little more
    per step than one), each stopped at the end of its unit; returns (text, tokens) per example.

    Each prompt ends where training's masked prompt ended (formatting.prompt_ids), so the model starts on
    the token it learned to write first, e.g. a newline and the body's indent."""
    from mlx_lm.generate import BatchGenerator

    prompts = [prompt_ids(tokenizer, messages_of({"prompt": e["prompt"]}, system)) for e in examples]
    gen = BatchGenerator(
        model,
        max_tokens=max_tokens,
        stop_tokens=[[t] for t in tokenizer.eos_token_ids],
        completion_batch_size=BATCH,
        prefill_batch_size=min(BATCH, 8),
    )
    uids = gen.insert([ids for ids, _ in prompts], [max_tokens] * len(prompts))
    index = {uid: i for i, uid in enumerate(uids)}
    tokens: dict[int, list[int]] = {uid: [] for uid in uids}
    finished: set[int] = set()
    try:
        while len(finished) < len(uids) and (responses := gen.next_generated()):
            for r in responses:
                if r.uid in finished:
                    continue
                if r.token not in tokenizer.eos_token_ids:
                    tokens[r.uid].append(int(r.token))
                ended = r.finish_reason is not None or (
                    len(tokens[r.uid]) % CHECK_EVERY == 0
                    and _closed(tokenizer, examples[index[r.uid]], tokens[r.uid], prompts[index[r.uid]][1])
                )
                if ended:
                    finished.add(r.uid)
                    if r.finish_reason is None:
                        gen.remove([r.uid])
                    if on_done is not None:
                        on_done(len(finished))
    finally:
        gen.close()
    out = []
    for uid in uids:
        example, lead = examples[index[uid]], prompts[index[uid]][1]
        text = strip_lead(tokenizer.decode(tokens[uid]), lead)
        end = unit_end(example["prompt"], text, example["language"])
        out.append((text if end is None else text[:end], len(tokens[uid])))
    return out


def _closed(tokenizer: Any, example: dict[str, str], tokens: list[int], lead: str) -> bool:
    text = strip_lead(tokenizer.decode(tokens), lead)
    return unit_end(example["prompt"], text, example["language"]) is not None


def reference_loss(model: Any, tokenizer: Any, example: dict[str, str], system: str | None) -> tuple[float, int]:
    """Summed cross-entropy of the reference completion's tokens given the prompt, and their count: the
    same tokens, on the same boundary, that training learns (the closing end-of-turn token included)."""
    import mlx.core as mx
    import mlx.nn as nn

    encoded = encode_example(
        tokenizer, messages_of({"prompt": example["prompt"], "completion": example["reference"]}, system)
    )
    tokens = mx.array(encoded.ids)[None]
    logits = model(tokens[:, :-1]).astype(mx.float32)
    losses = nn.losses.cross_entropy(logits, tokens[:, 1:], reduction="none")[0, encoded.offset - 1 :]
    return float(losses.sum()), int(losses.size)


def run_model(
    spec: dict[str, Any], examples: list[dict[str, str]], max_tokens: int, system: str | None = None
) -> dict[str, Any]:
    from mlx_lm import load

    started = time.perf_counter()
    model, tokenizer, *_ = load(spec["model"], adapter_path=spec.get("adapter"))  # the config only with return_config
    model.eval()
    loaded = time.perf_counter()

    def done(n: int) -> None:  # generation counts for the first half, perplexity for the second
        _emit(event="progress", label=spec["label"], done=n, total=2 * len(examples))

    results = generate_all(model, tokenizer, examples, max_tokens, system, on_done=done)
    completions = [text for text, _ in results]
    generated = [n for _, n in results]
    losses, counts = [], []
    for i, example in enumerate(examples, start=1):
        loss, tokens = reference_loss(model, tokenizer, example, system)
        losses.append(loss / max(tokens, 1))
        counts.append(tokens)
        done(len(examples) + i)
    mean = sum(loss * c for loss, c in zip(losses, counts, strict=False)) / max(sum(counts), 1)
    return {
        "completions": completions,
        "generated_tokens": generated,
        "token_losses": losses,
        "reference_tokens": counts,
        "mean_token_loss": mean,
        "perplexity": math.exp(min(mean, 50.0)),
        "load_seconds": loaded - started,
        "generate_seconds": time.perf_counter() - loaded,
    }


def main(argv: list[str]) -> int:
    job_dir = Path(argv[0])
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    results = {
        spec["label"]: run_model(spec, job["examples"], job["max_tokens"], job.get("system")) for spec in job["models"]
    }
    atomic_write_json(job_dir / "results.json", results)
    _emit(event="done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
