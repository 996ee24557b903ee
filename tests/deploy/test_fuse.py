"""fuse_run: adapters folded into the base, a float model that loads and computes what base+adapter did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge_mcp.core.errors import ExportError
from forge_mcp.deploy.fuse import TOKENIZER_FILES, fuse_run
from tests.deploy.conftest import logits, make_adapter


def _max_diff(a: object, b: object) -> float:
    import mlx.core as mx

    return float(mx.max(mx.abs(a - b)))


def test_fuse_without_adapter_reproduces_the_base(tiny_path: Path, tmp_path: Path) -> None:
    out = fuse_run(tiny_path, None, tmp_path / "fused")
    assert _max_diff(logits(out), logits(tiny_path)) == 0.0
    for name in TOKENIZER_FILES:
        if (tiny_path / name).exists():
            assert (out / name).read_bytes() == (tiny_path / name).read_bytes()
    assert json.loads((out / "forge_fused.json").read_text())["dtype"] == "float32"
    assert not list(tmp_path.glob(".*")), "no temp folder left behind"


@pytest.mark.parametrize("adapter_name", ["lora_adapter", "pissa_adapter"])
def test_fused_model_computes_what_base_plus_adapter_did(
    tiny_path: Path, tmp_path: Path, adapter_name: str, request: pytest.FixtureRequest
) -> None:
    adapter: Path = request.getfixturevalue(adapter_name)
    out = fuse_run(tiny_path, adapter, tmp_path / "fused")
    with_adapter = logits(tiny_path, adapter)
    assert _max_diff(with_adapter, logits(tiny_path)) > 1e-3, "the test adapter must change the model"
    assert _max_diff(logits(out), with_adapter) < 1e-4


def test_fuse_dora(tiny_path: Path, tmp_path: Path) -> None:
    adapter = make_adapter(tiny_path, tmp_path / "dora", "dora", seed=2)
    out = fuse_run(tiny_path, adapter, tmp_path / "fused")
    assert _max_diff(logits(out), logits(tiny_path, adapter)) < 1e-4


def test_fuse_quantized_base_gives_a_float_model(tiny_path: Path, tmp_path: Path) -> None:
    from mlx_lm import convert

    quantized = tmp_path / "tiny-4bit"
    convert(str(tiny_path), str(quantized), quantize=True, q_group_size=64, q_bits=4)
    assert "quantization" in json.loads((quantized / "config.json").read_text())
    adapter = make_adapter(quantized, tmp_path / "qlora", "lora", seed=3)
    out = fuse_run(quantized, adapter, tmp_path / "fused")
    config = json.loads((out / "config.json").read_text())
    assert "quantization" not in config and "quantization_config" not in config
    assert _max_diff(logits(out), logits(quantized, adapter)) < 1e-4


def test_fuse_replaces_an_existing_folder(tiny_path: Path, lora_adapter: Path, tmp_path: Path) -> None:
    out = fuse_run(tiny_path, None, tmp_path / "fused")
    (out / "stale.txt").write_text("old")
    fuse_run(tiny_path, lora_adapter, out)
    assert not (out / "stale.txt").exists()
    assert json.loads((out / "forge_fused.json").read_text())["adapter"] == str(lora_adapter)


def test_fuse_rejects_what_it_cannot_fuse(tiny_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not an adapters folder"):
        fuse_run(tiny_path, tmp_path, tmp_path / "fused")
    with pytest.raises(ExportError, match="not a model folder"):
        fuse_run(tmp_path, None, tmp_path / "fused")
    assert not (tmp_path / "fused").exists()
