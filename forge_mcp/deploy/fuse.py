"""Fuse a run's adapters into its base model: one plain (never quantized) mlx-lm / Hugging Face folder.

The fused folder is what the GGUF exporter reads, so it is always de-quantized: a 4-bit base becomes a
float model in the dtype of its quantization scales (usually f16 or bf16). An unquantized base keeps its
dtype: f32 stays f32 (so an f32 GGUF export of it can be checked for exact parity), and bf16 stays bf16
(rather than widening to f32, which would double the folder for no gain: the exporter widens per tensor
when it writes f32 and narrows to f16/q8_0 otherwise). Tokenizer files and the chat template are copied
byte for byte from the base folder, so the fused model tokenizes exactly as the base did.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from forge_mcp.core.errors import ExportError
from forge_mcp.core.fsutil import atomic_write_json

# Everything a tokenizer / chat template can live in; copied when present in the base folder.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
)
QUANT_KEYS = ("quantization", "quantization_config")


def fuse_run(model_path: Path, adapter_path: Path | None, out_dir: Path) -> Path:
    """Fuse `adapter_path` (an mlx-lm adapters folder; None = no adapter) into the base at `model_path`.

    Writes `out_dir` atomically (a temp folder renamed into place; an existing `out_dir` is replaced)
    and returns it. The result loads with `mlx_lm.load(out_dir)` and has no quantization left.
    """
    model_path, out_dir = Path(model_path), Path(out_dir)
    _check_inputs(model_path, adapter_path)
    model = _load_fused(model_path, adapter_path)
    tmp = out_dir.parent / f".{out_dir.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_folder(tmp, model, model_path, adapter_path)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _check_inputs(model_path: Path, adapter_path: Path | None) -> None:
    if not (model_path / "config.json").is_file():
        raise ExportError(f"{model_path} is not a model folder (no config.json)")
    if adapter_path is None:
        return
    for name in ("adapters.safetensors", "adapter_config.json"):
        if not (Path(adapter_path) / name).is_file():
            raise ExportError(f"{adapter_path} is not an adapters folder (no {name})")
    config = json.loads((Path(adapter_path) / "adapter_config.json").read_text())
    if config.get("fine_tune_type", "lora") not in ("lora", "dora"):
        raise ExportError(f"cannot fuse a {config.get('fine_tune_type')!r} adapter: only lora and dora")


def _load_fused(model_path: Path, adapter_path: Path | None) -> Any:
    """Base + adapters with every adapter layer folded into a plain Linear, and nothing quantized."""
    import mlx.core as mx
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import dequantize_model, load_adapters, load_model

    model, _ = load_model(model_path)
    if adapter_path is not None:
        model = load_adapters(model, str(adapter_path))
        # dequantize=True: a quantized base is folded in float, never re-quantized (mlx_lm.fuse's default
        # re-quantizes, which would round the adapter's small update away and break the GGUF export).
        fused = [
            (name, module.fuse(dequantize=True)) for name, module in model.named_modules() if hasattr(module, "fuse")
        ]
        if fused:
            model.update_modules(tree_unflatten(fused))
    model = dequantize_model(model)  # layers without adapters (embeddings, MLP, lm_head) too
    mx.eval(model.parameters())
    return model


def _write_folder(folder: Path, model: Any, model_path: Path, adapter_path: Path | None) -> None:
    from mlx_lm.utils import save_model

    save_model(folder, model)
    config = json.loads((model_path / "config.json").read_text())
    for key in QUANT_KEYS:
        config.pop(key, None)
    config.get("text_config", {}).pop("quantization", None)
    atomic_write_json(folder / "config.json", config)
    for name in TOKENIZER_FILES:
        if (model_path / name).is_file():
            shutil.copyfile(model_path / name, folder / name)
    atomic_write_json(
        folder / "forge_fused.json",
        {
            "base": str(model_path),
            "adapter": None if adapter_path is None else str(adapter_path),
            "dtype": _dtype_of(model),
            "dequantized": True,
        },
    )


def _dtype_of(model: Any) -> str:
    from mlx.utils import tree_flatten

    flat = tree_flatten(model.parameters())
    assert isinstance(flat, list)  # without a `destination`, tree_flatten returns (name, array) pairs
    dtypes = sorted({str(v.dtype).removeprefix("mlx.core.") for _, v in flat})
    return ",".join(dtypes)


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move `tmp` to `out_dir`; an existing `out_dir` is moved aside first and removed after."""
    old = out_dir.parent / f".{out_dir.name}.{os.getpid()}.old"
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
