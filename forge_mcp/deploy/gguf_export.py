"""Our own GGUF writer (on the `gguf` package) for llama-family and qwen2 models, plus Q4_K_M quantization.

`mlx_lm.fuse --export-gguf` writes files current llama.cpp refuses or mis-tokenizes (UINT32 token types,
a "llama" vocab for byte-level BPE, no merges, no chat template, F16 norms); this writer follows what
llama.cpp's own convert_hf_to_gguf.py does for these architectures. Input is a plain float model folder
(config.json + *.safetensors + tokenizer files), e.g. the output of `fuse.fuse_run`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forge_mcp.core.errors import ExportError
from forge_mcp.core.kinds import OutType
from forge_mcp.deploy.gguf_vocab import add_vocab
from forge_mcp.train.gguf_convert import llama3_rope_factors

# HF model_type -> llama.cpp architecture. Mistral (not Nemo/tekken) is a llama in llama.cpp.
ARCHS = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}
# llama.cpp applies rope to interleaved pairs for these (rope type NORM) while HF rotates halves, so q/k
# rows are permuted; qwen2 uses NEOX rope (halves, like HF) and must NOT be permuted.
PERMUTE_QK = {"llama"}
_FILE_TYPES = {"f32": 0, "f16": 1, "q8_0": 7}  # gguf.LlamaFileType ALL_F32, MOSTLY_F16, MOSTLY_Q8_0
Q4_K_M_FTYPE = 15  # llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
K_BLOCK = 256  # K-quant super-block: a row length must be a multiple of it


class GGUFInfo(BaseModel):
    """A written GGUF file."""

    path: Path
    arch: str
    outtype: str
    n_tensors: int
    size_bytes: int
    sha256: str
    fallback_tensors: int = 0  # 2-D tensors stored at a wider type than `outtype` (row length unsuited)


@dataclass
class _Tensor:
    name: str  # GGUF name
    shape: tuple[int, ...]  # numpy order (rows, cols)
    qtype: int  # gguf.GGMLQuantizationType
    load: Callable[[], Any]  # -> float32 numpy array in GGUF layout (permuted), not yet converted


def export_gguf(model_dir: Path, out_path: Path, outtype: OutType = "f16") -> GGUFInfo:
    """Write `model_dir` (a float llama/mistral/qwen2 folder) as one GGUF file at `out_path`, atomically."""
    return _export(Path(model_dir), Path(out_path), outtype)


def _export(
    model_dir: Path, out_path: Path, outtype: str, *, permute_qk: bool = True, special_as_control: bool = True
) -> GGUFInfo:
    """`permute_qk` / `special_as_control` exist only so tests can write deliberately broken files."""

    import gguf

    logging.getLogger("gguf").setLevel(logging.WARNING)  # its writer logs every file at INFO: noise in a CLI

    if outtype not in _FILE_TYPES:
        raise ExportError(f"unsupported outtype {outtype!r}: use one of {sorted(_FILE_TYPES)}")
    config = read_config(model_dir)
    arch = ARCHS[config["model_type"]]
    weights = _load_weights(model_dir)
    if "model.embed_tokens.weight" not in weights:
        raise ExportError(f"{model_dir} has no model.embed_tokens.weight")
    n_vocab = int(weights["model.embed_tokens.weight"].shape[0])  # llama.cpp checks the list against it
    tensors = _plan_tensors(weights, config, arch, outtype, permute_qk and arch in PERMUTE_QK)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        _add_hparams(writer, config, model_dir.name, outtype)
        add_vocab(writer, model_dir, n_vocab, special_as_control=special_as_control)
        _write_tensors(writer, tensors)
        writer.close()
        _fsync(tmp)
        os.replace(tmp, out_path)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    q8 = int(gguf.GGMLQuantizationType.Q8_0)
    fallback = sum(1 for t in tensors if len(t.shape) == 2 and outtype == "q8_0" and t.qtype != q8)
    return _file_info(out_path, arch, outtype, len(tensors), fallback)


def read_config(model_dir: Path) -> dict[str, Any]:
    """config.json of an exportable folder; raises ExportError for what this writer cannot handle."""
    path = model_dir / "config.json"
    if not path.is_file():
        raise ExportError(f"{model_dir} is not a model folder (no config.json)")
    config: dict[str, Any] = json.loads(path.read_text())
    model_type = config.get("model_type")
    if model_type not in ARCHS:
        raise ExportError(f"cannot export model_type {model_type!r} to GGUF: supported are {sorted(ARCHS)}")
    if "quantization" in config or "quantization_config" in config:
        raise ExportError(f"{model_dir} is quantized: fuse it first (fuse_run de-quantizes) and export that")
    return config


def _load_weights(model_dir: Path) -> dict[str, Any]:
    """name -> mlx array; mx.load is lazy, so a tensor's data is read only when it is converted."""
    import mlx.core as mx

    files = sorted(model_dir.glob("model*.safetensors"))
    if not files:
        raise ExportError(f"no model*.safetensors in {model_dir}")
    weights: dict[str, Any] = {}
    for file in files:
        loaded = mx.load(str(file))
        assert isinstance(loaded, dict)  # a .safetensors file loads as name -> array
        weights.update(loaded)
    return weights


def _add_hparams(writer: Any, config: dict[str, Any], name: str, outtype: str) -> None:
    import gguf

    n_head = int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or config["hidden_size"] // n_head)
    writer.add_name(str(config.get("_name_or_path") or name))
    writer.add_context_length(int(config.get("max_position_embeddings", 2048)))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or n_head))
    writer.add_rope_dimension_count(head_dim)
    if head_dim * n_head != int(config["hidden_size"]):  # e.g. some Mistral variants set head_dim
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    theta, scaling = _rope(config)
    writer.add_rope_freq_base(theta)
    if scaling and scaling["rope_type"] == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_file_type(_FILE_TYPES[outtype])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _rope(config: dict[str, Any]) -> tuple[float, dict[str, Any] | None]:
    """(rope theta, scaling or None); old (`rope_theta`, `rope_scaling`) and new (`rope_parameters`) keys."""
    params = dict(config.get("rope_parameters") or {})
    theta = float(config.get("rope_theta") or params.get("rope_theta") or 10000.0)
    scaling = dict(config.get("rope_scaling") or params)
    kind = scaling.get("rope_type") or scaling.get("type") or "default"
    if kind == "default":
        return theta, None
    if kind not in ("linear", "llama3"):
        raise ExportError(f"rope scaling {kind!r} is not supported by this exporter (only linear and llama3)")
    if kind == "llama3" and config["model_type"] not in ("llama",):
        raise ExportError("llama3 rope scaling is only supported for model_type llama")
    return theta, scaling | {"rope_type": kind}


# ---- tensors ----


def _plan_tensors(
    weights: dict[str, Any], config: dict[str, Any], arch: str, outtype: str, permute: bool
) -> list[_Tensor]:
    """Every GGUF tensor with its name, type and a loader; ExportError for any unmapped weight."""
    import gguf

    n_layers = int(config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2 if arch == "qwen2" else gguf.MODEL_ARCH.LLAMA, n_layers)
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    plans = []
    for hf_name, array in weights.items():
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue  # recomputed by llama.cpp
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ExportError(f"no GGUF name for weight {hf_name!r} ({arch})")
        heads = n_head if ".q_proj." in hf_name else n_kv if ".k_proj." in hf_name else 0
        load = _loader(array, heads if permute else 0)
        plans.append(_Tensor(name, tuple(array.shape), _qtype(name, tuple(array.shape), outtype), load))
    scaling = _rope(config)[1]
    if scaling and scaling["rope_type"] == "llama3":
        freqs = _llama3_rope_factors(config, scaling)
        plans.append(
            _Tensor(
                gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight",
                freqs.shape,
                int(gguf.GGMLQuantizationType.F32),
                lambda: freqs,
            )
        )
    return sorted(plans, key=lambda t: _order(t.name))


def _order(name: str) -> tuple[int, str]:
    parts = name.split(".")
    return (int(parts[1]) + 1 if parts[0] == "blk" else 0 if name.startswith(("token_embd", "rope")) else 10**9, name)


def _qtype(name: str, shape: tuple[int, ...], outtype: str) -> int:
    """Norms and 1-D tensors F32 (llama.cpp's CPU kernels want them so); Q8_0 rows need 32 | length."""
    import gguf

    types = gguf.GGMLQuantizationType
    if len(shape) == 1 or name.endswith("_norm.weight") or outtype == "f32":
        return int(types.F32)
    if outtype == "q8_0" and shape[-1] % 32 == 0:
        return int(types.Q8_0)
    return int(types.F16)


def _loader(array: Any, heads: int) -> Callable[[], Any]:
    def load() -> Any:
        import mlx.core as mx
        import numpy as np

        data = np.array(array.astype(mx.float32))
        return _permute(data, heads) if heads else data

    return load


def _permute(data: Any, n_head: int) -> Any:
    """HF's rotate-halves q/k rows -> llama.cpp's interleaved pairs (convert_hf_to_gguf's LlamaModel.permute)."""
    shape = data.shape
    return data.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def _llama3_rope_factors(config: dict[str, Any], scaling: dict[str, Any]) -> Any:
    theta = _rope(config)[0]
    dim = int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])
    factor, low, high = (
        float(scaling.get(k, d)) for k, d in (("factor", 8.0), ("low_freq_factor", 1.0), ("high_freq_factor", 4.0))
    )
    old_ctx = float(scaling.get("original_max_position_embeddings", 8192))
    return llama3_rope_factors(theta, dim, factor, low, high, old_ctx)  # the importer reads them back the same way


def _write_tensors(writer: Any, tensors: list[_Tensor]) -> None:
    """Header and tensor infos first, then one tensor at a time: memory stays at one tensor, not the model."""
    import gguf
    import numpy as np

    for t in tensors:
        if t.qtype == gguf.GGMLQuantizationType.Q8_0:
            shape = gguf.quants.quant_shape_to_byte_shape(t.shape, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor_info(t.name, shape, np.dtype(np.uint8), int(np.prod(shape)), raw_dtype=t.qtype)
        else:
            dtype = np.dtype(np.float32 if t.qtype == gguf.GGMLQuantizationType.F32 else np.float16)
            writer.add_tensor_info(
                t.name,
                t.shape,
                dtype,
                int(np.prod(t.shape)) * dtype.itemsize,
                raw_dtype=gguf.GGMLQuantizationType(t.qtype),
            )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in tensors:
        writer.write_tensor_data(gguf.quants.quantize(t.load(), gguf.GGMLQuantizationType(t.qtype)))


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _file_info(path: Path, arch: str, outtype: str, n_tensors: int, fallback: int = 0) -> GGUFInfo:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return GGUFInfo(
        path=path,
        arch=arch,
        outtype=outtype,
        n_tensors=n_tensors,
        size_bytes=path.stat().st_size,
        sha256=digest.hexdigest(),
        fallback_tensors=fallback,
    )


# ---- K-quants through llama.cpp ----


def quantize_q4_k_m(src: Path, dst: Path, timeout: float = 3600) -> GGUFInfo:
    """Re-quantize an f32/f16 GGUF to Q4_K_M with llama.cpp's quantizer, in a subprocess (it aborts the
    process on bad input). Raises ExportError when no weight matrix has rows that K-quants can hold."""
    import gguf

    src, dst = Path(src), Path(dst)
    reader = gguf.GGUFReader(src)
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    matrices = [t for t in reader.tensors if len(t.shape) == 2]
    unfit = [t.name for t in matrices if int(t.shape[0]) % K_BLOCK]  # shape[0] is the row length (ne0)
    if len(unfit) == len(matrices):
        raise ExportError(
            f"cannot quantize {src.name} to Q4_K_M: K-quants need rows that are a multiple of "
            f"{K_BLOCK} values and no weight matrix has them (hidden size "
            f"{int(matrices[0].shape[0]) if matrices else 0}); export q8_0 instead"
        )
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    cmd = [
        sys.executable,
        "-P",
        "-m",
        "forge_mcp.deploy.llama_probe",
        "quantize",
        str(src),
        str(tmp),
        "--ftype",
        str(Q4_K_M_FTYPE),
    ]
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"llama.cpp quantization timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise ExportError(f"llama.cpp quantization failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    _fsync(tmp)
    os.replace(tmp, dst)
    return _file_info(dst, arch, "q4_k_m", len(reader.tensors), fallback=len(unfit))
