"""The training worker: `python -m forge_mcp.train.worker RUN_DIR [--resume]`, one process per run.

It never runs in the server process (mlx-lm prints to stdout, and a crash here must not take the server
down). It calls mlx-lm's `train()` with our callback, which records every report in the store, keeps the
best adapter by validation loss, checkpoints adapter + optimizer state + step at every report (so a
killed run resumes where it was), halts on divergence keeping the last good checkpoint, and stops cleanly
on SIGTERM (cancel).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forge_mcp.core.fsutil import atomic_write_json, atomic_write_text
from forge_mcp.core.store import Store
from forge_mcp.train.formatting import encode_example, messages_of
from forge_mcp.train.methods import adapter_config, adapter_weights, apply_adapters
from forge_mcp.train.params import RunPaths, TrainParams

if TYPE_CHECKING:
    from mlx_lm.tuner.callbacks import TrainingCallback
else:
    TrainingCallback = object  # mlx-lm takes seconds to import and only calls the methods: import it to train only

KEEP_CHECKPOINTS = 2
MOVING_WINDOW = 5


class Stop(Exception):
    """Raised from the callback to end training early (cancel or divergence)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def main(argv: list[str]) -> int:
    paths = RunPaths(Path(argv[0]))
    resume = "--resume" in argv[1:]
    params = TrainParams.model_validate_json(paths.params.read_text(encoding="utf-8"))
    run = json.loads(paths.run.read_text(encoding="utf-8"))
    if not params.compile:
        os.environ["MLX_DISABLE_COMPILE"] = "1"
    store = Store(Path(run["store"]))
    run_id = run["run_id"]
    cancel = {"requested": False}
    signal.signal(signal.SIGTERM, lambda *_: cancel.__setitem__("requested", True))
    _update(store, run_id, "running", pid=os.getpid(), error=None)
    try:
        summary = train(paths, params, run, store, resume, cancel)
    except Stop as stop:
        _update(store, run_id, stop.status, error=str(stop), finished_at=time.time())
        return 0
    except Exception as exc:  # the run failed: say why in the store, where status tools look
        _update(store, run_id, "failed", error=f"{type(exc).__name__}: {exc}", finished_at=time.time())
        raise
    _update(store, run_id, "completed", finished_at=time.time(), **summary)
    commit = store.get_record("runs", run_id)["git_commit"]
    if commit:  # monitor_repo measures change from here on
        store.set_meta("last_trained_commit", commit)
        store.set_meta("last_trained_at", repr(time.time()))
    return 0


def _update(store: Store, run_id: str, status: str, **fields: Any) -> None:
    record = store.get_record("runs", run_id)
    data = record["data"] | fields
    store.put_record("runs", run_id, status, data, git_commit=record["git_commit"], dataset_id=record["dataset_id"])


def train(
    paths: RunPaths, params: TrainParams, run: dict[str, Any], store: Store, resume: bool, cancel: dict[str, bool]
) -> dict[str, Any]:
    import mlx.core as mx
    import mlx.optimizers as optim
    import mlx_lm
    import numpy as np
    from mlx_lm.tuner.trainer import TrainingArgs
    from mlx_lm.tuner.trainer import train as mlx_train

    mx.random.seed(params.seed)
    model, tokenizer, *_ = mlx_lm.load(run["model_path"])  # (model, tokenizer): the config only with return_config
    spec = params.adapter_spec()
    pissa = apply_adapters(model, spec)
    layers = len(model.layers) if params.num_layers == -1 else params.num_layers
    folder = Path(run["dataset_path"]) / params.task
    train_set, valid_set = (
        load_split(folder / f"{split}.jsonl", tokenizer, params.task, run.get("system")) for split in ("train", "valid")
    )
    stats = train_set.stats(params.max_seq_length)
    # A prompt as long as the limit leaves nothing to learn (and a batch of those a 0/0 loss): leave it out.
    train_set, valid_set = train_set.fitting(params.max_seq_length), valid_set.fitting(params.max_seq_length)
    if len(train_set) == 0:
        raise ValueError(
            f"the {params.task} training split has no example whose completion starts within "
            f"max_seq_length {params.max_seq_length} tokens: raise max_seq_length"
        )
    _update(store, run["run_id"], "running", sequences=stats)
    optimizer = optim.Adam(learning_rate=_schedule(params))
    start, best_val = 0, math.inf
    if resume:
        start, best_val = _restore(paths, model, optimizer)
    np.random.seed(params.seed + start)  # mlx-lm shuffles with numpy: a resumed run gets a fresh order
    # mlx-lm needs a full batch to validate: a smaller validation split is skipped (and said so).
    validate = len(valid_set) >= params.batch_size
    if not validate:
        _update(
            store,
            run["run_id"],
            "running",
            note=f"validation skipped: {len(valid_set)} examples < batch_size {params.batch_size}",
        )
    callback = _Callback(
        paths,
        params,
        store,
        run["run_id"],
        start,
        best_val,
        model,
        optimizer,
        spec,
        pissa,
        cancel,
        layers,
        valid_set if validate else None,
    )
    if params.iters > start:
        args = TrainingArgs(
            batch_size=params.batch_size,
            iters=params.iters - start,
            val_batches=params.val_batches,
            steps_per_report=params.steps_per_report,
            steps_per_eval=params.steps_per_eval,
            steps_per_save=10**9,
            max_seq_length=params.max_seq_length,
            adapter_file=str(paths.root / "mlx_adapters.safetensors"),
            grad_checkpoint=params.grad_checkpoint,
            grad_accumulation_steps=params.grad_accumulation,
        )
        if start == 0:
            callback.validate(0)
        # Validation is ours, not mlx-lm's: it counts steps from where this process started, so a resumed run
        # would validate off the run's schedule (at 90, 139, 189 instead of 100, 150, 200).
        mlx_train(model, optimizer, train_set, None, args=args, training_callback=callback)
    _save_adapter(paths.adapters, adapter_weights(model, spec, pissa), adapter_config(spec, layers), params)
    return {"step": params.iters, "best_val_loss": None if math.isinf(callback.best_val) else callback.best_val}


class TokenizedSplit:
    """A split as (tokens, prompt length) pairs, encoded once by `formatting.encode_example`.

    Not a CacheDataset on purpose: mlx-lm then sorts batches by real token length (less padding)."""

    def __init__(self, items: list[tuple[list[int], int]]) -> None:
        self.items = items

    def __getitem__(self, idx: int) -> tuple[list[int], int]:
        return self.items[idx]

    def __len__(self) -> int:
        return len(self.items)

    def fitting(self, max_seq_length: int) -> TokenizedSplit:
        """The examples with at least one trained token within the length limit."""
        return TokenizedSplit([(ids, offset) for ids, offset in self.items if offset < min(len(ids), max_seq_length)])

    def stats(self, max_seq_length: int) -> dict[str, Any]:
        """How many sequences the length limit cuts, and what share of the trained tokens that loses."""
        cut = [(len(ids), offset) for ids, offset in self.items if len(ids) > max_seq_length]
        trained = sum(len(ids) - offset for ids, offset in self.items) or 1
        lost = sum(n - max(offset, max_seq_length) for n, offset in cut)
        lengths = sorted(len(ids) for ids, _ in self.items)
        dropped = sum(offset >= min(len(ids), max_seq_length) for ids, offset in self.items)
        return {
            "examples": len(self.items),
            "max_seq_length": max_seq_length,
            "truncated_examples": len(cut),
            "dropped_examples": dropped,
            "truncated_token_fraction": round(lost / trained, 4),
            "longest": lengths[-1] if lengths else 0,
            "median": lengths[len(lengths) // 2] if lengths else 0,
        }


def load_split(path: Path, tokenizer: Any, task: str, system: str | None) -> TokenizedSplit:
    """A JSONL split, tokenized the way the judge will prompt: the prompt masked, except for raw text."""
    if not path.is_file():
        return TokenizedSplit([])
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    items: list[tuple[list[int], int]] = []
    for row in rows:
        if task == "text":
            ids = list(tokenizer.encode(row["text"]))
            items.append((ids + ([tokenizer.eos_token_id] if ids[-1:] != [tokenizer.eos_token_id] else []), 0))
        else:
            encoded = encode_example(tokenizer, messages_of(row, system))
            items.append((encoded.ids, encoded.offset))
    return TokenizedSplit(items)


def _schedule(params: TrainParams) -> Any:
    import mlx.optimizers as optim

    decay = optim.cosine_decay(params.learning_rate, max(params.iters - params.warmup, 1), params.learning_rate * 0.1)
    if params.warmup == 0:
        return decay
    warm = optim.linear_schedule(params.learning_rate * 0.01, params.learning_rate, params.warmup)
    return optim.join_schedules([warm, decay], [params.warmup])


class _Callback(TrainingCallback):
    def __init__(
        self,
        paths: RunPaths,
        params: TrainParams,
        store: Store,
        run_id: str,
        start: int,
        best_val: float,
        model: Any,
        optimizer: Any,
        spec: Any,
        pissa: Any,
        cancel: dict[str, bool],
        layers: int,
        valid_set: Any = None,
    ) -> None:
        self.paths, self.params, self.store, self.run_id, self.start = paths, params, store, run_id, start
        self.best_val, self.model, self.optimizer, self.spec, self.pissa = best_val, model, optimizer, spec, pissa
        self.cancel, self.layers, self.valid_set = cancel, layers, valid_set
        self.validated_at = start
        self.recent: list[float] = []
        self.started = time.time()

    def on_train_loss_report(self, info: dict[str, Any]) -> None:
        step = self.start + int(info["iteration"])
        loss = float(info["train_loss"])
        self._check_divergence(step, loss)
        self.store.add_metric(
            self.run_id,
            step,
            "train",
            loss,
            learning_rate=float(info["learning_rate"]),
            tokens_per_second=float(info["tokens_per_second"]),
            iterations_per_second=float(info["iterations_per_second"]),
            trained_tokens=int(info["trained_tokens"]),
            peak_memory_gb=float(info["peak_memory"]),
        )
        self.recent = (self.recent + [loss])[-MOVING_WINDOW:]
        _checkpoint(self.paths, self.model, self.optimizer, step, self.best_val)
        _update(
            self.store,
            self.run_id,
            "running",
            step=step,
            last_train_loss=loss,
            tokens_per_second=float(info["tokens_per_second"]),
            iterations_per_second=float(info["iterations_per_second"]),
            peak_memory_gb=float(info["peak_memory"]),
        )
        if self.valid_set is not None and (
            step // self.params.steps_per_eval > self.validated_at // self.params.steps_per_eval
            or step == self.params.iters
        ):
            self.validate(step)
        if self.cancel["requested"]:
            raise Stop("cancelled", f"cancelled at step {step}; resume continues from this checkpoint")

    def validate(self, step: int) -> None:
        """The validation loss after `step` steps: at 0, at every multiple of steps_per_eval (the first report
        past it when reports do not fall on it), and at the end; the same steps for a resumed run."""
        from mlx_lm.tuner.trainer import evaluate, iterate_batches

        if self.valid_set is None:
            return
        self.model.eval()
        loss = evaluate(
            model=self.model,
            dataset=self.valid_set,
            batch_size=self.params.batch_size,
            num_batches=self.params.val_batches,
            max_seq_length=self.params.max_seq_length,
            iterate_batches=iterate_batches,
        )
        self.model.train()
        self.validated_at = step
        self.on_val_loss_report({"iteration": step - self.start, "val_loss": float(loss)})

    def on_val_loss_report(self, info: dict[str, Any]) -> None:
        step = self.start + int(info["iteration"])
        loss = float(info["val_loss"])
        self.store.add_metric(self.run_id, step, "val", loss)
        if math.isfinite(loss) and loss < self.best_val:
            self.best_val = loss
            _save_adapter(self.paths.best, _weights(self), _config(self), self.params, step=step, val_loss=loss)
            _save_state(self.paths.best, self.model, self.optimizer, step, loss)  # a full checkpoint, too
        _update(
            self.store,
            self.run_id,
            "running",
            last_val_loss=loss,
            best_val_loss=None if math.isinf(self.best_val) else self.best_val,
        )

    def _check_divergence(self, step: int, loss: float) -> None:
        if not math.isfinite(loss):
            raise Stop("diverged", f"the training loss became {loss} at step {step}; the last good checkpoint is kept")
        if len(self.recent) >= 3:
            average = sum(self.recent) / len(self.recent)
            if loss > self.params.divergence_factor * average:
                raise Stop(
                    "diverged",
                    f"the training loss jumped to {loss:.3f} at step {step}, over "
                    f"{self.params.divergence_factor}x its moving average {average:.3f}; "
                    "the last good checkpoint is kept (lower the learning rate?)",
                )


def _weights(cb: _Callback) -> dict[str, Any]:

    return adapter_weights(cb.model, cb.spec, cb.pissa)


def _config(cb: _Callback) -> dict[str, Any]:

    return adapter_config(cb.spec, cb.layers)


def _save_adapter(
    folder: Path, weights: dict[str, Any], config: dict[str, Any], params: TrainParams, **info: Any
) -> None:
    """adapters.safetensors + adapter_config.json (+ the run's params), replaced as a whole folder."""
    import mlx.core as mx

    tmp = folder.with_name(f".{folder.name}.tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(tmp / "adapters.safetensors"), weights)
    atomic_write_json(tmp / "adapter_config.json", config)
    atomic_write_json(tmp / "forge_params.json", params.model_dump() | info)
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def _checkpoint(paths: RunPaths, model: Any, optimizer: Any, step: int, best_val: float) -> None:
    """Trainable weights, optimizer state (incl. its step, which drives the schedule) and our step."""
    folder = paths.checkpoints / f"step-{step:07d}"
    folder.mkdir(parents=True, exist_ok=True)
    _save_state(folder, model, optimizer, step, best_val)
    atomic_write_text(paths.latest, folder.name)  # the checkpoint counts only once it is complete
    for stale in sorted(p for p in paths.checkpoints.glob("step-*") if p.is_dir())[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(stale, ignore_errors=True)


def _save_state(folder: Path, model: Any, optimizer: Any, step: int, best_val: float) -> None:
    """Optimizer state (incl. its own step, which drives the schedule), the raw trainable weights, our step."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    mx.save_safetensors(str(folder / "trainable.safetensors"), dict(tree_flatten(model.trainable_parameters())))
    mx.save_safetensors(str(folder / "optimizer.safetensors"), dict(tree_flatten(optimizer.state)))
    atomic_write_json(
        folder / "state.json", {"step": step, "best_val_loss": None if math.isinf(best_val) else best_val}
    )


def _restore(paths: RunPaths, model: Any, optimizer: Any) -> tuple[int, float]:
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    if not paths.latest.exists():
        return 0, math.inf  # killed before its first report: start over
    folder = paths.checkpoints / paths.latest.read_text(encoding="utf-8").strip()
    model.load_weights(str(folder / "trainable.safetensors"), strict=False)
    optimizer.init(model.trainable_parameters())
    saved = mx.load(str(folder / "optimizer.safetensors"))
    assert isinstance(saved, dict)  # a .safetensors file loads as name -> array
    optimizer.state = tree_unflatten(list(saved.items()))
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    best = state.get("best_val_loss")
    return int(state["step"]), math.inf if best is None else float(best)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
