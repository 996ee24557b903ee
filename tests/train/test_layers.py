"""Per-layer adapter updates: norms and effective ranks against numpy's full SVD of ΔW, PiSSA's zero
update at init, DoRA's magnitude change, bf16 and sharded bases, mlx-lm's own fuse, and real tiny runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from forge_mcp.core.errors import NotFoundError
from forge_mcp.train.layers import adapter_layers, effective_rank, run_layers
from forge_mcp.train.plots import layers_png
from tests.conftest import train_tiny
from tests.deploy.conftest import make_adapter

KEYS = (
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.v_proj",
    "model.layers.1.self_attn.q_proj",
    "model.layers.1.mlp.down_proj",
)
SHAPES = {"q_proj": (48, 32), "v_proj": (16, 32), "down_proj": (32, 80)}  # (out, in)


def _write_adapter(folder: Path, tensors: dict[str, np.ndarray], rank: int, scale: float, method: str = "lora") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(folder / "adapters.safetensors")
    )
    config = {
        "fine_tune_type": "dora" if method == "dora" else "lora",
        "forge_method": method,
        "lora_parameters": {"rank": rank, "scale": scale, "keys": []},
    }
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


def _factors(rng: np.random.Generator, rank: int) -> dict[str, np.ndarray]:
    tensors = {}
    for key in KEYS:
        out, inp = SHAPES[key.rsplit(".", 1)[-1]]
        tensors[f"{key}.lora_a"] = rng.normal(size=(inp, rank)).astype(np.float32)
        tensors[f"{key}.lora_b"] = rng.normal(size=(rank, out)).astype(np.float32)
    return tensors


def _delta(tensors: dict[str, np.ndarray], key: str, scale: float) -> np.ndarray:
    a, b = tensors[f"{key}.lora_a"].astype(np.float64), tensors[f"{key}.lora_b"].astype(np.float64)
    return scale * b.T @ a.T


def _base(folder: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    weights = {f"{key}.weight": rng.normal(size=SHAPES[key.rsplit(".", 1)[-1]]).astype(np.float32) for key in KEYS}
    folder.mkdir(parents=True)
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return weights


def _svd_erank(delta: np.ndarray) -> float:
    s = np.linalg.svd(delta, compute_uv=False)
    s = s[s > 1e-9 * s.max()]
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def test_norms_and_effective_ranks_match_the_full_svd(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tensors = _factors(rng, rank=4)
    weights = _base(tmp_path / "base", rng)
    report = adapter_layers(_write_adapter(tmp_path / "adapter", tensors, 4, 2.5), tmp_path / "base")
    assert [u.key for u in report.modules] == list(KEYS) and report.relative and not report.notes
    for u in report.modules:
        delta = _delta(tensors, u.key, 2.5)
        sigmas = np.linalg.svd(delta, compute_uv=False)
        assert u.shape == delta.shape and u.rank == 4 and u.module == u.key.rsplit(".", 1)[-1]
        assert u.update_norm == pytest.approx(np.linalg.norm(delta), rel=1e-9)
        assert u.top_singular_value == pytest.approx(sigmas[0], rel=1e-9)
        assert u.effective_rank == pytest.approx(_svd_erank(delta), rel=1e-6) and 1 < u.effective_rank <= 4
        assert u.relative_update == pytest.approx(np.linalg.norm(delta) / np.linalg.norm(weights[f"{u.key}.weight"]))
    layer1 = [u for u in report.modules if u.layer == 1]
    assert report.by_layer[1].layer == 1 and report.by_layer[1].count == 2
    assert report.by_layer[1].update_norm == pytest.approx(np.sqrt(sum(u.update_norm**2 for u in layer1)))
    assert [t.module for t in report.by_module] == ["q_proj", "v_proj", "down_proj"]  # block order, not a-z
    assert report.total_update_norm == pytest.approx(np.sqrt(sum(u.update_norm**2 for u in report.modules)))
    assert "layer" in report.summary and "most-changed module" in report.summary
    assert layers_png(report).startswith(b"\x89PNG")


def test_rank_one_update_has_effective_rank_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tensors = _factors(rng, rank=4)
    for key in KEYS:  # four columns of A, but B's rows all point the same way: ΔW has rank 1
        tensors[f"{key}.lora_b"] = np.outer(rng.normal(size=4), rng.normal(size=tensors[f"{key}.lora_b"].shape[1]))
    report = adapter_layers(_write_adapter(tmp_path / "adapter", tensors, 4, 1.0))
    assert all(u.effective_rank == pytest.approx(1.0, abs=1e-6) for u in report.modules)
    assert not report.relative and report.modules[0].relative_update is None
    assert effective_rank([]) == 0.0 and effective_rank([3.0, 3.0]) == pytest.approx(2.0)


def test_pissa_at_init_changes_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    trained = _factors(rng, rank=4)
    tensors = {}
    for key in KEYS:  # [A | A0], [B ; -B0] with A = A0, B = B0: how PiSSA is exported before any step
        a, b = trained[f"{key}.lora_a"], trained[f"{key}.lora_b"]
        tensors[f"{key}.lora_a"], tensors[f"{key}.lora_b"] = np.hstack([a, a]), np.vstack([b, -b])
    report = adapter_layers(_write_adapter(tmp_path / "adapter", tensors, 8, 2.0, method="pissa"))
    assert report.method == "pissa" and report.rank == 8 and report.total_update_norm == 0
    assert all(u.update_norm == 0 and u.effective_rank == 0 and u.top_singular_value == 0 for u in report.modules)
    assert "changes nothing" in report.summary and any("rank-2r" in n for n in report.notes)
    moved = dict(tensors)  # one trained step later: B moved by a little in one layer
    key = KEYS[0]
    moved[f"{key}.lora_b"] = np.vstack([trained[f"{key}.lora_b"] + 1e-3, -trained[f"{key}.lora_b"]])
    after = adapter_layers(_write_adapter(tmp_path / "moved", moved, 8, 2.0, method="pissa"))
    expected = _delta(moved, key, 2.0)
    assert after.modules[0].update_norm == pytest.approx(np.linalg.norm(expected), rel=1e-6)
    assert after.modules[0].effective_rank == pytest.approx(_svd_erank(expected), rel=1e-4)
    assert all(u.update_norm == 0 for u in after.modules[1:])


def test_dora_magnitude_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    tensors = _factors(rng, rank=2)
    weights = _base(tmp_path / "base", rng)
    for key in KEYS:
        adapted = weights[f"{key}.weight"].astype(np.float64) + _delta(tensors, key, 0.5)
        tensors[f"{key}.m"] = np.linalg.norm(adapted, axis=1)  # what plain LoRA's row norms would be
    tensors[f"{KEYS[2]}.m"] = tensors[f"{KEYS[2]}.m"] * 1.1  # one layer learned 10% larger magnitudes
    report = adapter_layers(_write_adapter(tmp_path / "adapter", tensors, 2, 0.5, method="dora"), tmp_path / "base")
    changes = {u.key: u.magnitude_change for u in report.modules}
    expected = 0.1 * np.linalg.norm(
        np.linalg.norm(weights[f"{KEYS[2]}.weight"].astype(np.float64) + _delta(tensors, KEYS[2], 0.5), axis=1)
    )
    assert changes[KEYS[2]] == pytest.approx(expected, rel=1e-5)
    assert all(changes[k] == pytest.approx(0, abs=1e-4) for k in KEYS if k != KEYS[2])
    assert report.fine_tune_type == "dora" and "magnitudes moved" in report.summary


def test_bf16_sharded_and_quantized_bases(tmp_path: Path) -> None:
    import mlx.core as mx

    rng = np.random.default_rng(4)
    tensors = _factors(rng, rank=4)
    adapter = _write_adapter(tmp_path / "adapter", tensors, 4, 1.0)
    weights = {f"{k}.weight": mx.array(rng.normal(size=SHAPES[k.rsplit(".", 1)[-1]])).astype(mx.bfloat16) for k in KEYS}
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    names = sorted(weights)
    mx.save_safetensors(str(sharded / "model-00001-of-00002.safetensors"), {k: weights[k] for k in names[:2]})
    mx.save_safetensors(str(sharded / "model-00002-of-00002.safetensors"), {k: weights[k] for k in names[2:]})
    report = adapter_layers(adapter, sharded)
    for u in report.modules:
        w = np.array(weights[f"{u.key}.weight"].astype(mx.float32), dtype=np.float64)
        assert u.weight_norm == pytest.approx(np.linalg.norm(w), rel=1e-6)
    quantized = tmp_path / "quantized"
    shutil.copytree(sharded, quantized)
    (quantized / "config.json").write_text(json.dumps({"quantization": {"group_size": 64, "bits": 4}}))
    skipped = adapter_layers(adapter, quantized)
    assert not skipped.relative and any("quantized" in n for n in skipped.notes)
    assert skipped.modules[0].update_norm == report.modules[0].update_norm


def test_clear_errors_for_what_is_not_an_adapter(tmp_path: Path) -> None:
    from forge_mcp.core.errors import ForgeError

    with pytest.raises(NotFoundError, match="no adapter in"):
        adapter_layers(tmp_path)
    no_factors = _write_adapter(tmp_path / "other", {"model.norm.weight": np.ones(4)}, 4, 1.0)
    with pytest.raises(ForgeError, match="no LoRA/DoRA factors"):
        adapter_layers(no_factors)
    (no_factors / "adapters.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    with pytest.raises(ForgeError, match="cannot read"):
        adapter_layers(no_factors)


def test_lora_and_dora_agree_with_mlx_lm_fuse(tiny_path: Path, tmp_path: Path) -> None:
    import mlx_lm
    from mlx_lm.tuner.dora import DoRALinear
    from mlx_lm.tuner.lora import LoRALinear

    for method in ("lora", "dora", "pissa"):
        adapter = make_adapter(tiny_path, tmp_path / method, method)
        report = {u.key: u for u in adapter_layers(adapter, tiny_path).modules}
        model, _ = mlx_lm.load(str(tiny_path), adapter_path=str(adapter))
        layers = {k: m for k, m in model.named_modules() if isinstance(m, (LoRALinear, DoRALinear))}
        assert set(layers) == set(report) and report
        for key, layer in layers.items():
            base, plain = _np(layer.linear.weight), layer
            if method == "dora":  # W+ΔW from mlx-lm's plain LoRA fuse of the same factors; DoRA rescales its rows
                plain = LoRALinear.from_base(layer.linear, r=layer.lora_a.shape[1], scale=layer.scale)
                plain.lora_a, plain.lora_b = layer.lora_a, layer.lora_b
                rows = np.linalg.norm(_np(plain.fuse().weight), axis=1)
                assert report[key].magnitude_change == pytest.approx(np.linalg.norm(_np(layer.m) - rows), rel=1e-4)
                assert report[key].magnitude_change > 0  # make_adapter moves B but leaves m at ||W||
            delta = _np(plain.fuse().weight) - base
            assert report[key].update_norm == pytest.approx(np.linalg.norm(delta), rel=1e-4)
            assert report[key].relative_update == pytest.approx(np.linalg.norm(delta) / np.linalg.norm(base), rel=1e-4)


def _np(array: Any) -> np.ndarray:
    import mlx.core as mx

    return np.array(array.astype(mx.float32), dtype=np.float64)


def test_a_real_dora_run_and_the_run_folder_rules(code_repo) -> None:
    from forge_mcp.core.workspace import Workspace
    from forge_mcp.miner.datasets import build_dataset

    ws = Workspace.open(code_repo.path)
    build_dataset(ws)
    run_id = train_tiny(
        ws,
        method="dora",
        task="completion",
        compile=False,
        max_seq_length=256,
        batch_size=2,
        steps_per_report=5,
        steps_per_eval=10,
        iters=10,
        learning_rate=1e-3,
    )
    report = run_layers(ws, run_id)
    assert report.run_id == run_id and report.source == "adapters" and report.step == 10 and report.relative
    assert report.method == "dora" and report.total_update_norm > 0
    assert all(u.magnitude_change is not None and u.relative_update for u in report.modules)
    assert {u.module for u in report.modules} == {"q_proj", "k_proj", "v_proj", "o_proj"}
    run_dir = ws.state_dir / "runs" / run_id
    assert json.loads((run_dir / "layers.json").read_text())["report"]["run_id"] == run_id
    assert run_layers(ws, run_id) == report  # the second read comes from the cache
    ws.store.put_record("runs", "run-early", "running", {"params": {}, "step": 3})
    with pytest.raises(NotFoundError, match="no adapter saved yet"):
        run_layers(ws, "run-early")
    shutil.copytree(run_dir / "adapters", ws.state_dir / "runs" / "run-early" / "best")
    assert run_layers(ws, "run-early").source == "best"  # while training: the best adapter so far
    with pytest.raises(NotFoundError, match="no run"):
        run_layers(ws, "run-nope")
