"""What fine-tuning changed, per layer: the size and effective rank of each adapter's update ΔW.

An mlx-lm adapter stores, per adapted linear, `lora_a` (in, r) and `lora_b` (r, out); the update of the
weight in its (out, in) orientation is ΔW = scale · Bᵀ Aᵀ. Everything here is computed from the two thin
factors (QR of each, then the SVD of the r×r core), never from ΔW itself, so a 7B adapter reads in
seconds. PiSSA adapters are saved as a rank-2r LoRA ([A|A0], [B;-B0]) whose ΔW is exactly the change
from the initial split, so the same formulas hold; DoRA adds a learned per-output magnitude `m`.

With the base model's weights (`model.safetensors`, possibly sharded, read lazily row block by row
block; bf16 is widened by hand, so neither mlx nor torch is needed) the report adds ||ΔW|| / ||W|| and,
for DoRA, how far `m` moved from the norms plain LoRA would give. Quantized bases have no plain W:
those figures are skipped and the report says so.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, Field

from forge_mcp.core.errors import ForgeError, NotFoundError
from forge_mcp.core.fsutil import atomic_write_json
from forge_mcp.train.params import RunPaths

if TYPE_CHECKING:
    import numpy as np

    from forge_mcp.core.workspace import Workspace

ZERO_TOL = 1e-10  # singular values below this fraction of scale·||A||·||B|| are float64 round-off
ROW_BLOCK = 1 << 22  # elements of a base weight read at once (32 MiB in float64)
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2"}
# Modules in the order a block computes them (tables and plots read naturally); others follow by name.
MODULE_ORDER = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class ModuleUpdate(BaseModel):
    key: str = Field(description="The adapted linear's path, e.g. model.layers.3.self_attn.q_proj")
    layer: int | None = Field(description="Transformer block index (None outside the blocks)")
    module: str = Field(description="Short module name: q_proj, v_proj, o_proj, gate_proj, ...")
    shape: tuple[int, int] = Field(description="ΔW's (out, in) shape")
    rank: int = Field(description="Adapter rank r (the most ΔW can have)")
    update_norm: float = Field(description="Frobenius norm of ΔW = scale·Bᵀ·Aᵀ")
    top_singular_value: float
    effective_rank: float = Field(description="Roy & Vetterli entropy effective rank of ΔW (0 when ΔW = 0)")
    weight_norm: float | None = Field(None, description="||W|| of the base weight, when it was readable")
    relative_update: float | None = Field(None, description="||ΔW|| / ||W||")
    magnitude_change: float | None = Field(None, description="DoRA: ||m − row norms of (W + ΔW)||")


class _Total(BaseModel):
    count: int = Field(description="Adapted modules in the group")
    update_norm: float = Field(description="sqrt of the summed ||ΔW||²: the group's update as one matrix")
    relative_update: float | None = Field(None, description="The group's ||ΔW|| / ||W||")
    mean_effective_rank: float
    magnitude_change: float | None = None


class LayerTotal(_Total):
    layer: int | None


class ModuleTotal(_Total):
    module: str


class LayersReport(BaseModel):
    adapter_path: str
    run_id: str | None = None
    source: str = Field("adapters", description="adapters (final), best (best validation so far) or a folder name")
    step: int | None = Field(None, description="Training step the adapter was saved at, when known")
    method: str
    fine_tune_type: str
    rank: int
    scale: float
    base_model_path: str | None = None
    relative: bool = Field(description="Whether base weights were read (relative_update, magnitude_change)")
    modules: list[ModuleUpdate]
    by_layer: list[LayerTotal]
    by_module: list[ModuleTotal]
    total_update_norm: float
    notes: list[str] = Field(default_factory=list)
    summary: str


class _SafeTensors:
    """One .safetensors file read lazily (header, then the rows asked for through a memory map)."""

    def __init__(self, path: Path) -> None:
        import numpy as np

        self.path = path
        try:
            with path.open("rb") as fh:
                size = int.from_bytes(fh.read(8), "little")
                header = json.loads(fh.read(size))
            header.pop("__metadata__", None)
            self._data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size) if header else None
        except (OSError, ValueError) as exc:
            raise ForgeError(f"cannot read {path} as safetensors: {exc}") from exc
        self.entries: dict[str, dict[str, Any]] = header

    def readable(self, name: str) -> bool:
        return self.entries[name]["dtype"] in _DTYPES

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.entries[name]["shape"])

    def rows(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows [start, stop) of a float tensor as float64 (bf16 widened: its bits are float32's top half)."""
        import numpy as np

        entry = self.entries[name]
        if entry["dtype"] not in _DTYPES or self._data is None:
            raise ForgeError(f"{name} in {self.path} is {entry['dtype']}, not a float tensor this can read")
        begin, end = entry["data_offsets"]
        flat = self._data[begin:end].view(_DTYPES[entry["dtype"]])
        array = flat.reshape(entry["shape"]) if entry["shape"] else flat.reshape(())
        block = np.asarray(array[start:stop] if array.ndim else array)
        if entry["dtype"] == "BF16":
            block = (block.astype(np.uint32) << 16).view(np.float32)
        return block.astype(np.float64)


class _BaseWeights:
    """The base model's weights by name, across shards; only headers are read up front."""

    def __init__(self, folder: Path) -> None:
        self.files = {p.name: _SafeTensors(p) for p in sorted(folder.glob("*.safetensors"))}  # shards too
        self.where = {key: f for f in self.files.values() for key in f.entries}
        settings = _read_json(folder / "config.json")
        self.quantized = "quantization" in settings or "quantization_config" in settings  # mlx, or GPTQ/AWQ

    def find(self, key: str) -> str | None:
        """The stored name of `key`'s weight: exact, else the one name ending with its block-relative path."""
        name = f"{key}.weight"
        if name in self.where:
            return name
        match = _LAYER.search(name)
        tail = name[match.start() :].lstrip(".") if match else name
        found = [k for k in self.where if k.endswith("." + tail) or k == tail]
        return found[0] if len(found) == 1 else None


def effective_rank(sigmas: Any) -> float:
    """exp of the entropy of the normalised singular values (Roy & Vetterli 2007); 0 for no update."""
    import numpy as np

    s = np.asarray(sigmas, dtype=np.float64)
    s = s[s > 0]
    if s.size == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def update_spectrum(lora_a: Any, lora_b: Any, scale: float) -> np.ndarray:
    """Singular values of ΔW = scale·Bᵀ·Aᵀ from its r×r core: A = Qa·Ra and Bᵀ = Qb·Rb give
    ΔW = scale·Qb·(Rb·Raᵀ)·Qaᵀ, so σ(ΔW) = scale·σ(Rb·Raᵀ). Round-off-sized values are dropped."""
    import numpy as np

    a, b = np.asarray(lora_a, dtype=np.float64), np.asarray(lora_b, dtype=np.float64)
    # mode="r" returns R alone; numpy's stubs type every mode as the (Q, R) result.
    ra, rb = cast("np.ndarray", np.linalg.qr(a, mode="r")), cast("np.ndarray", np.linalg.qr(b.T, mode="r"))
    sigmas = abs(scale) * np.linalg.svd(rb @ ra.T, compute_uv=False)
    # PiSSA's [A|A0], [B;-B0] cancels exactly at step 0: what is left is float64 noise, not an update.
    bound = abs(scale) * np.linalg.norm(a) * np.linalg.norm(b)
    return sigmas[sigmas > ZERO_TOL * bound]


def _base_figures(
    base: _BaseWeights, name: str, a: np.ndarray, b: np.ndarray, scale: float, m: np.ndarray | None
) -> tuple[float, float | None]:
    """||W||, and for DoRA ||m − ||W+ΔW||_rows||, reading W a block of rows at a time."""
    import numpy as np

    source = base.where[name]
    out = source.shape(name)[0]
    step = max(1, ROW_BLOCK // max(1, a.shape[0]))
    squared, adapted_norms = 0.0, []
    for start in range(0, out, step):
        block = source.rows(name, start, start + step)
        squared += float((block * block).sum())
        if m is not None:  # mlx-lm DoRA divides by the row norms of W + ΔW (tuner/dora.py)
            adapted = block + scale * (b[:, start : start + step].T @ a.T)
            adapted_norms.append(np.linalg.norm(adapted, axis=1))
    magnitude = None if m is None else float(np.linalg.norm(m - np.concatenate(adapted_norms)))
    return math.sqrt(squared), magnitude


def _module_update(
    key: str, tensors: _SafeTensors, scale: float, base: _BaseWeights | None, notes: set[str]
) -> ModuleUpdate | None:
    a, b = tensors.rows(f"{key}.lora_a"), tensors.rows(f"{key}.lora_b")
    if a.ndim != 2 or b.ndim != 2:
        notes.add(f"{key}: {a.ndim}-D adapter factors (mixture-of-experts?) are not analysed")
        return None
    sigmas = update_spectrum(a, b, scale)
    # ||ΔW||_F is the core's Frobenius norm: as cheap as the Gram trace tr((AᵀA)(BBᵀ)), which squares the
    # entries and so leaves √eps-sized noise where PiSSA's two halves cancel.
    norm = float(math.sqrt((sigmas * sigmas).sum()))
    m = tensors.rows(f"{key}.m") if f"{key}.m" in tensors.entries else None
    found = _base_weight(base, key, (b.shape[1], a.shape[0]), notes)
    weight_norm, magnitude = _base_figures(base, found, a, b, scale, m) if base and found else (None, None)
    match = _LAYER.search(key)
    return ModuleUpdate(
        key=key,
        layer=int(match.group(1)) if match else None,
        module=key.rsplit(".", 1)[-1],
        shape=(b.shape[1], a.shape[0]),
        rank=a.shape[1],
        update_norm=norm,
        top_singular_value=float(sigmas.max()) if sigmas.size else 0.0,
        effective_rank=effective_rank(sigmas),
        weight_norm=weight_norm,
        relative_update=None if not weight_norm else norm / weight_norm,
        magnitude_change=magnitude,
    )


def _base_weight(base: _BaseWeights | None, key: str, shape: tuple[int, int], notes: set[str]) -> str | None:
    """The readable base weight for `key`, or None (with a note saying why)."""
    if base is None:
        return None
    name = base.find(key)
    if name is None:
        notes.add("some adapted weights were not found in the base model: their relative figures are skipped")
        return None
    quantized = base.quantized or name.removesuffix(".weight") + ".scales" in base.where
    if quantized or not base.where[name].readable(name):
        notes.add("the base weights are quantized (or not float): relative norms are skipped")
        return None
    if base.where[name].shape(name) != shape:
        notes.add(f"{name} has shape {base.where[name].shape(name)}, not the adapter's {shape}: skipped")
        return None
    return name


def _total(updates: list[ModuleUpdate]) -> dict[str, Any]:
    squared = sum(u.update_norm**2 for u in updates)
    weights = [u.weight_norm for u in updates]
    magnitudes = [u.magnitude_change for u in updates if u.magnitude_change is not None]
    relative = None
    if all(w for w in weights):  # the group as one stacked matrix: sqrt(Σ||ΔW||²) / sqrt(Σ||W||²)
        relative = math.sqrt(squared) / math.sqrt(sum(w * w for w in weights if w))
    return {
        "count": len(updates),
        "update_norm": math.sqrt(squared),
        "relative_update": relative,
        "mean_effective_rank": sum(u.effective_rank for u in updates) / len(updates),
        "magnitude_change": math.sqrt(sum(x * x for x in magnitudes)) if magnitudes else None,
    }


def _group(updates: list[ModuleUpdate]) -> tuple[list[LayerTotal], list[ModuleTotal]]:
    layers: dict[int | None, list[ModuleUpdate]] = {}
    modules: dict[str, list[ModuleUpdate]] = {}
    for u in updates:
        layers.setdefault(u.layer, []).append(u)
        modules.setdefault(u.module, []).append(u)
    by_layer = [
        LayerTotal(layer=k, **_total(v)) for k, v in sorted(layers.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    ]
    ordered = sorted(modules.items(), key=lambda kv: (module_rank(kv[0]), kv[0]))
    return by_layer, [ModuleTotal(module=k, **_total(v)) for k, v in ordered]


def module_rank(module: str) -> int:
    return MODULE_ORDER.index(module) if module in MODULE_ORDER else len(MODULE_ORDER)


def adapter_layers(adapter_dir: Path, base_model_dir: Path | None = None) -> LayersReport:
    """Per adapted linear: ||ΔW||, its effective rank and top singular value, and with the base model's
    weights ||ΔW||/||W|| (and DoRA's magnitude change); totals per layer and per module, and a summary."""
    file, config_file = adapter_dir / "adapters.safetensors", adapter_dir / "adapter_config.json"
    if not file.is_file() or not config_file.is_file():
        raise NotFoundError(f"no adapter in {adapter_dir}: it needs adapters.safetensors and adapter_config.json")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    lora = config.get("lora_parameters") or {}
    scale, rank = float(lora.get("scale", 20.0)), int(lora.get("rank", 8))  # mlx-lm's defaults
    tensors = _SafeTensors(file)
    base = _BaseWeights(base_model_dir) if base_model_dir and any(base_model_dir.glob("*.safetensors")) else None
    notes: set[str] = set() if base or base_model_dir is None else {f"no weights in {base_model_dir}"}
    keys = sorted(
        (k.removesuffix(".lora_a") for k in tensors.entries if k.endswith(".lora_a")),
        key=lambda k: (_layer_of(k), module_rank(k.rsplit(".", 1)[-1]), k),
    )
    updates = [u for k in keys if (u := _module_update(k, tensors, scale, base, notes)) is not None]
    if not updates:
        raise ForgeError(f"the adapter in {adapter_dir} has no LoRA/DoRA factors (lora_a, lora_b) to analyse")
    by_layer, by_module = _group(updates)
    method = str(config.get("forge_method") or config.get("fine_tune_type") or "lora")
    if method in ("pissa", "qpissa"):
        notes.add("PiSSA is saved as a rank-2r LoRA (trained [A|A0], [B;-B0]): ΔW is the change from the SVD init")
    report = LayersReport(
        adapter_path=str(adapter_dir),
        source=adapter_dir.name,
        method=method,
        fine_tune_type=str(config.get("fine_tune_type", "lora")),
        rank=rank,
        scale=scale,
        base_model_path=str(base_model_dir) if base_model_dir else None,
        relative=any(u.relative_update is not None for u in updates),
        modules=updates,
        by_layer=by_layer,
        by_module=by_module,
        total_update_norm=math.sqrt(sum(u.update_norm**2 for u in updates)),
        notes=sorted(notes),
        summary="",
    )
    report.summary = summarize(report)
    return report


def _layer_of(key: str) -> int:
    match = _LAYER.search(key)
    return int(match.group(1)) if match else -1


def summarize(report: LayersReport) -> str:
    """One or two sentences: which layers and modules changed most, and how many directions they use."""
    head = f"{report.method} adapter (rank {report.rank}, scale {report.scale:g}) on {len(report.modules)} modules"
    if report.total_update_norm == 0:
        return f"{head}: it changes nothing yet (every ΔW is zero, as at the start of training)."
    size = (lambda t: t.relative_update or 0.0) if report.relative else (lambda t: t.update_norm)

    def said(t: _Total) -> str:
        return f"||ΔW||/||W|| {t.relative_update:.2%}" if report.relative else f"||ΔW|| {t.update_norm:.3g}"

    layers = [t for t in report.by_layer if t.layer is not None] or report.by_layer
    top, low = max(layers, key=size), min(layers, key=size)
    module = max(report.by_module, key=size)
    ranks = [u.effective_rank for u in report.modules if u.update_norm > 0]
    text = (
        f"{head} in {len(layers)} layers: layer {top.layer} changed most ({said(top)}), layer {low.layer} "
        f"least ({said(low)}); {module.module} is the most-changed module ({said(module)}). "
    )
    text += f"Updates use about {sum(ranks) / len(ranks):.1f} of {report.rank} directions (effective rank)."
    moved = [u.magnitude_change for u in report.modules if u.magnitude_change is not None]
    if moved:  # DoRA: the learned magnitudes rescale W+ΔW's rows on top of the direction update
        text += f" The learned magnitudes moved by up to {max(moved):.3g} from plain LoRA's row norms."
    return text


def run_adapter_dir(ws: Workspace, run_id: str) -> tuple[Path, int | None]:
    """The adapter to read for a run: the final one (adapters/) once written, else the best so far
    (best/, saved whenever validation improves), else a NotFoundError."""

    record = ws.store.get_record("runs", run_id)  # NotFoundError for an unknown id
    paths = RunPaths(ws.run_dir(run_id))
    for folder in (paths.adapters, paths.best):
        if (folder / "adapters.safetensors").is_file():
            info = _read_json(folder / "forge_params.json")
            step = info.get("step", info.get("iters") if folder == paths.adapters else None)
            return folder, None if step is None else int(step)
    raise NotFoundError(
        f"run {run_id} ({record['status']}) has no adapter saved yet: the best one is saved when "
        "validation first improves, the final one when the run completes"
    )


def run_layers(ws: Workspace, run_id: str) -> LayersReport:
    """`adapter_layers` for a run (relative to its base model), cached in the run folder per adapter file."""
    adapter, step = run_adapter_dir(ws, run_id)
    model = _read_json(adapter.parent / "run.json").get("model_path")
    base = Path(model) if model and Path(model).is_dir() else None
    stat = (adapter / "adapters.safetensors").stat()
    stamp = f"{adapter.name}:{stat.st_mtime_ns}:{stat.st_size}:{base}"
    cache = adapter.parent / "layers.json"
    cached = _read_json(cache)
    if cached.get("stamp") == stamp:
        return LayersReport.model_validate(cached["report"])
    report = adapter_layers(adapter, base).model_copy(update={"run_id": run_id, "step": step})

    atomic_write_json(cache, {"stamp": stamp, "report": report.model_dump(mode="json")})
    return report


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
