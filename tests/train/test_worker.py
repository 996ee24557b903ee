"""train.worker: the run folder in, a trained adapter out; schedule, splits, checkpoints, validation steps, stops."""

from __future__ import annotations

import json
import math
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.core.fsutil import atomic_write_json, atomic_write_text
from forge_mcp.core.store import Store
from forge_mcp.train import worker
from forge_mcp.train.params import RunPaths, TrainParams
from forge_mcp.train.worker import Stop, TokenizedSplit, load_split

ROWS = [
    {"prompt": "def add(a, b):\n", "completion": "    return a + b\n"},
    {"prompt": "def sub(a, b):\n", "completion": "    return a - b\n"},
    {"prompt": "class Stack:\n    def push(self, x):\n", "completion": "        self.items.append(x)\n"},
    {"prompt": "def greet(name):\n", "completion": "    return f'hello {name}'\n"},
]
FAST = {"base_model": "tiny", "batch_size": 2, "max_seq_length": 64, "compile": False, "learning_rate": 1e-3}


@pytest.fixture(scope="module", autouse=True)
def _no_mlx_compile() -> Iterator[None]:
    import mlx.core as mx

    mx.disable_compile()  # mx.compile builds C++ on first use (~25 s on CPU)
    yield
    mx.enable_compile()


@pytest.fixture(scope="module")
def tokenizer(tiny_path: Path) -> Any:
    from mlx_lm.utils import load_tokenizer

    return load_tokenizer(tiny_path)


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


class Run:
    """A run folder as the job manager leaves it (params.json, run.json, a queued record), to run main() on."""

    def __init__(self, root: Path, tiny_path: Path, **params: Any) -> None:
        self.store = Store(root / "forge.db")
        self.paths = RunPaths(root / "runs" / "run-1")
        self.paths.root.mkdir(parents=True)
        dataset = root / "dataset"
        write_jsonl(dataset / "completion" / "train.jsonl", ROWS * 2)
        write_jsonl(dataset / "completion" / "valid.jsonl", ROWS[:2])
        self.set_params(**params)
        run = {"run_id": "run-1", "store": str(self.store.path), "model_path": str(tiny_path)}
        atomic_write_json(self.paths.run, run | {"dataset_path": str(dataset), "system": None})
        self.store.put_record("runs", "run-1", "queued", {"step": 0}, git_commit="abc123", dataset_id="ds-1")

    def set_params(self, **params: Any) -> None:
        atomic_write_text(self.paths.params, TrainParams(**(FAST | params)).model_dump_json())

    def main(self, *flags: str) -> int:
        handler = signal.getsignal(signal.SIGTERM)
        try:
            return worker.main([str(self.paths.root), *flags])
        finally:
            signal.signal(signal.SIGTERM, handler)  # main() installs its cancel handler in this process

    def record(self) -> dict[str, Any]:
        return self.store.get_record("runs", "run-1")

    def steps(self, kind: str) -> list[int]:
        return [m["step"] for m in self.store.metrics("run-1") if m["kind"] == kind]


@pytest.fixture
def no_compile_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLX_DISABLE_COMPILE", "1")  # main() sets it for compile=False runs: restored afterwards


def test_a_run_trains_validates_on_schedule_and_resumes(tmp_path: Path, tiny_path: Path, no_compile_env: None) -> None:
    run = Run(tmp_path, tiny_path, iters=3, steps_per_report=1, steps_per_eval=2, val_batches=1)
    assert run.main() == 0
    record = run.record()
    assert record["status"] == "completed", record["data"].get("error")
    assert record["data"]["step"] == 3 and math.isfinite(record["data"]["best_val_loss"])
    assert record["data"]["sequences"]["examples"] == 8
    assert run.steps("train") == [1, 2, 3] and run.steps("val") == [0, 2, 3]  # at 0, each multiple, the end
    assert (run.paths.adapters / "adapters.safetensors").is_file()
    assert json.loads((run.paths.adapters / "forge_params.json").read_text())["iters"] == 3
    assert json.loads((run.paths.best / "forge_params.json").read_text())["val_loss"] == record["data"]["best_val_loss"]
    assert sorted(p.name for p in run.paths.checkpoints.glob("step-*")) == ["step-0000002", "step-0000003"]
    assert run.paths.latest.read_text() == "step-0000003"
    assert run.store.get_meta("last_trained_commit") == "abc123"

    run.set_params(iters=5, steps_per_report=1, steps_per_eval=2, val_batches=1)  # resume for two more steps
    assert run.main("--resume") == 0
    assert run.record()["status"] == "completed" and run.record()["data"]["step"] == 5
    assert run.steps("train") == [1, 2, 3, 4, 5] and run.steps("val") == [0, 2, 3, 4, 5]  # no second step 0


def test_a_run_with_nothing_to_learn_fails_with_the_reason(
    tmp_path: Path, tiny_path: Path, no_compile_env: None
) -> None:
    run = Run(tmp_path, tiny_path, iters=2, max_seq_length=16)
    write_jsonl(
        run.paths.root.parent.parent / "dataset" / "completion" / "train.jsonl", [ROWS[2] | {"prompt": "x " * 40}]
    )
    with pytest.raises(ValueError, match="no example whose completion starts within max_seq_length 16"):
        run.main()
    record = run.record()
    assert record["status"] == "failed" and "raise max_seq_length" in record["data"]["error"]
    assert run.store.get_meta("last_trained_commit") is None


def test_tokenized_split_fitting_and_stats() -> None:
    split = TokenizedSplit([([1] * 10, 2), ([1] * 40, 5), ([1] * 30, 30), ([1] * 20, 25)])
    assert len(split.fitting(32)) == 2  # a prompt that reaches the limit (or the end) leaves nothing to learn
    stats = split.stats(32)
    assert stats == {
        "examples": 4,
        "max_seq_length": 32,
        "truncated_examples": 1,
        "dropped_examples": 2,
        "truncated_token_fraction": round(8 / (8 + 35 + 0 - 5), 4),
        "longest": 40,
        "median": 30,
    }
    assert TokenizedSplit([]).stats(32)["longest"] == 0


def test_load_split_masks_prompts_and_ends_raw_text(tmp_path: Path, tokenizer: Any) -> None:
    write_jsonl(tmp_path / "completion.jsonl", ROWS[:2])
    items = load_split(tmp_path / "completion.jsonl", tokenizer, "completion", None)
    assert len(items) == 2 and all(0 < offset < len(ids) for ids, offset in items.items)
    write_jsonl(tmp_path / "text.jsonl", [{"text": "def add(a, b):\n    return a + b\n"}])
    [(ids, offset)] = load_split(tmp_path / "text.jsonl", tokenizer, "text", None).items
    assert offset == 0 and ids[-1] == tokenizer.eos_token_id and ids.count(tokenizer.eos_token_id) == 1
    assert len(load_split(tmp_path / "missing.jsonl", tokenizer, "completion", None)) == 0


def test_schedule_warms_up_then_decays_to_a_tenth() -> None:
    import mlx.core as mx

    def at(schedule: Any, step: int) -> float:
        return float(schedule(mx.array(step)))

    plain = worker._schedule(TrainParams(learning_rate=1e-3, iters=100))
    assert at(plain, 0) == pytest.approx(1e-3) and at(plain, 100) == pytest.approx(1e-4)
    assert at(plain, 50) == pytest.approx(5.5e-4, rel=1e-3)
    warm = worker._schedule(TrainParams(learning_rate=1e-3, iters=100, warmup=10))
    assert at(warm, 0) == pytest.approx(1e-5) and at(warm, 10) == pytest.approx(1e-3)
    assert at(warm, 100) == pytest.approx(1e-4) and at(warm, 5) < 1e-3


class Callbacks:
    """A _Callback over the real tiny model with adapters, a real optimizer and a real store."""

    def __init__(self, root: Path, tiny_path: Path, **params: Any) -> None:
        import mlx.optimizers as optim
        import mlx_lm

        from forge_mcp.train.methods import apply_adapters

        self.params = TrainParams(**(FAST | params))
        self.paths = RunPaths(root / "run")
        self.store = Store(root / "forge.db")
        self.store.put_record("runs", "run-1", "running", {}, git_commit=None, dataset_id=None)
        model, _ = mlx_lm.load(str(tiny_path))
        spec = self.params.adapter_spec()
        pissa = apply_adapters(model, spec)
        self.cancel = {"requested": False}
        self.callback = worker._Callback(
            self.paths,
            self.params,
            self.store,
            "run-1",
            0,
            math.inf,
            model,
            optim.Adam(1e-3),
            spec,
            pissa,
            self.cancel,
            len(model.layers),
        )

    def report(self, step: int, loss: float) -> None:
        info = {"iteration": step, "train_loss": loss, "learning_rate": 1e-3, "tokens_per_second": 1.0}
        info |= {"iterations_per_second": 1.0, "trained_tokens": 10 * step, "peak_memory": 0.1}
        self.callback.on_train_loss_report(info)


def test_reports_checkpoint_keep_the_best_and_stop_on_divergence_or_cancel(tmp_path: Path, tiny_path: Path) -> None:
    cb = Callbacks(tmp_path, tiny_path, iters=100, divergence_factor=4.0)
    for step, loss in enumerate([3.0, 2.9, 2.8, 2.7], start=1):
        cb.report(step, loss)
    assert [m["loss"] for m in cb.store.metrics("run-1")] == [3.0, 2.9, 2.8, 2.7]
    assert sorted(p.name for p in cb.paths.checkpoints.glob("step-*")) == ["step-0000003", "step-0000004"]
    assert cb.store.get_record("runs", "run-1")["data"]["last_train_loss"] == 2.7

    cb.callback.on_val_loss_report({"iteration": 4, "val_loss": 2.5})
    cb.callback.on_val_loss_report({"iteration": 5, "val_loss": 2.6})  # worse: the best adapter stays
    assert json.loads((cb.paths.best / "forge_params.json").read_text())["step"] == 4
    assert json.loads((cb.paths.best / "state.json").read_text()) == {"step": 4, "best_val_loss": 2.5}
    assert cb.store.get_record("runs", "run-1")["data"]["best_val_loss"] == 2.5

    with pytest.raises(Stop, match="jumped to 20.000 at step 5") as jumped:
        cb.report(5, 20.0)
    assert jumped.value.status == "diverged"
    with pytest.raises(Stop, match="became nan at step 6"):
        cb.report(6, float("nan"))
    assert cb.paths.latest.read_text() == "step-0000004"  # a diverged report is not checkpointed

    cb.cancel["requested"] = True
    with pytest.raises(Stop, match="cancelled at step 7") as cancelled:
        cb.report(7, 2.6)
    assert cancelled.value.status == "cancelled" and cb.paths.latest.read_text() == "step-0000007"


def test_a_checkpoint_restores_weights_optimizer_and_step(tmp_path: Path, tiny_path: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    first = Callbacks(tmp_path / "a", tiny_path)
    model, optimizer = first.callback.model, first.callback.optimizer
    for _, layer in model.named_modules():
        if hasattr(layer, "lora_b"):  # as if trained: a fresh LoRA has lora_b = 0
            layer.lora_b = layer.lora_b + 0.05 * mx.random.normal(layer.lora_b.shape)
    optimizer.init(model.trainable_parameters())
    optimizer.state["step"] = mx.array(7)
    worker._checkpoint(first.paths, model, optimizer, 7, 2.5)

    fresh = Callbacks(tmp_path / "b", tiny_path).callback
    step, best = worker._restore(first.paths, fresh.model, fresh.optimizer)
    assert (step, best) == (7, 2.5) and int(fresh.optimizer.state["step"]) == 7
    saved = dict(tree_flatten(model.trainable_parameters()))
    restored = dict(tree_flatten(fresh.model.trainable_parameters()))
    assert saved.keys() == restored.keys() and all(mx.array_equal(saved[k], restored[k]) for k in saved)
    assert worker._restore(RunPaths(tmp_path / "never"), fresh.model, fresh.optimizer) == (0, math.inf)
