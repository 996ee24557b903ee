"""The embedder-adaptation worker: `python -m forge_mcp.index.adapt_worker JOB_DIR`, one process per job.

Reads `JOB_DIR/job.json` (the base model folder and the resolved settings) and `JOB_DIR/pairs.jsonl`, then
fine-tunes the sentence-transformers model contrastively: MultipleNegativesRankingLoss over (query,
document, hard negative) triplets, so every other document in the batch is a negative too. It stops at the
planned steps or at the time budget, whichever comes first, and publishes the model by renaming
`model.tmp/` to `model/` (a killed worker leaves no model, so the stock one keeps serving). Progress goes to
stdout as JSON lines; nothing else is written there.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

REPORT_EVERY = 5  # steps between progress lines


def _emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def main(argv: list[str]) -> int:
    job = Path(argv[1])
    (job / "pid").write_text(str(os.getpid()), encoding="utf-8")
    spec = json.loads((job / "job.json").read_text(encoding="utf-8"))
    pairs = [json.loads(line) for line in (job / "pairs.jsonl").read_text(encoding="utf-8").splitlines() if line]
    result = train(spec, pairs, job)
    (job / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    tmp, final = job / "model.tmp", job / "model"
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)  # the model exists whole, or not at all
    _emit(event="done", **result)
    return 0


def _triplets(pairs: list[dict[str, Any]], rng: random.Random) -> list[tuple[str, str, str]]:
    """(query, document, negative): a pair without a mined near miss gets another pair's document."""
    out = []
    for pair in pairs:
        negative = pair.get("negative")
        if not negative:
            others = [p["document"] for p in rng.sample(pairs, min(len(pairs), 4)) if p["document"] != pair["document"]]
            negative = others[0] if others else ""
        out.append((pair["query"], pair["document"], negative))
    return out


def train(spec: dict[str, Any], pairs: list[dict[str, Any]], job: Path) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    torch.manual_seed(spec["seed"])
    rng = random.Random(spec["seed"])
    model = SentenceTransformer(spec["base_path"], device="cpu")
    model.max_seq_length = spec["max_seq_length"]
    loss_fn = MultipleNegativesRankingLoss(model)
    # The 30k-row word-embedding table is half the parameters; a few hundred pairs cannot improve it, and
    # leaving it fixed halves the optimizer's work and keeps unseen identifiers where the stock model put them.
    for module in model.modules():
        if hasattr(module, "word_embeddings"):
            table = module.word_embeddings
            assert isinstance(table, torch.nn.Embedding)  # BERT-style models keep the table in an nn.Embedding
            table.weight.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=spec["learning_rate"], weight_decay=0.01)
    batch = spec["batch_size"]
    per_epoch = math.ceil(len(pairs) / batch)
    planned = per_epoch * spec["epochs"]
    warmup = max(1, planned // 10)
    deadline = time.monotonic() + spec["budget_seconds"]
    started, step, losses = time.monotonic(), 0, []
    model.train()
    (job / "started").write_text(str(planned), encoding="utf-8")  # loaded, training begins
    for epoch in range(spec["epochs"]):
        triplets = _triplets(pairs, rng)
        rng.shuffle(triplets)
        for start in range(0, len(triplets), batch):
            if time.monotonic() > deadline:
                break
            part = triplets[start : start + batch]
            features = [_features(model, [t[k] for t in part]) for k in range(3)]
            # Linear warm-up over the first tenth, then linear decay to zero at the planned end.
            scale = (step + 1) / warmup if step < warmup else max(0.0, (planned - step) / max(1, planned - warmup))
            for group in optimizer.param_groups:
                group["lr"] = spec["learning_rate"] * scale
            loss = loss_fn(features, None)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            step += 1
            losses.append(float(loss))
            if step % REPORT_EVERY == 0 or step == planned:
                _emit(
                    event="step",
                    step=step,
                    steps=planned,
                    epoch=epoch + 1,
                    loss=round(sum(losses[-REPORT_EVERY:]) / len(losses[-REPORT_EVERY:]), 4),
                    seconds=round(time.monotonic() - started, 1),
                )
    model.eval()
    model.save(str(job / "model.tmp"))
    return {
        "steps": step,
        "planned_steps": planned,
        "epochs_done": round(step / per_epoch, 2),
        "stopped_by_budget": step < planned,
        "first_loss": round(losses[0], 4) if losses else None,
        "final_loss": round(sum(losses[-REPORT_EVERY:]) / len(losses[-REPORT_EVERY:]), 4) if losses else None,
        "train_seconds": round(time.monotonic() - started, 1),
    }


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    return dict(model.tokenize(texts))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
