"""verify_gguf: llama.cpp (in a subprocess) against mlx-lm on exported files, good and deliberately broken."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from forge_mcp.deploy.fuse import fuse_run
from forge_mcp.deploy.gguf_export import _export, export_gguf, quantize_q4_k_m
from forge_mcp.deploy.verify import verify_gguf

PROMPTS = ["def add(a, b):", "class Stack:"]


def test_f32_export_is_exact(tiny_path: Path, tmp_path: Path) -> None:
    report = verify_gguf(export_gguf(tiny_path, tmp_path / "tiny.gguf", "f32").path, tiny_path)
    assert report.ok and report.loads and report.exact, report.error
    assert report.token_agreement == 1.0 and report.tokenizer_match and report.chat_template_match
    assert report.outtype == "f32" and report.agreement_mode == "teacher-forced"
    assert len(report.prompts) == 4 and all(len(p.mlx_tokens) == 32 for p in report.prompts)
    texts = " ".join(c.text for c in report.tokenizer_checks)
    assert "<|im_start|>" in texts and "日本語" in texts and "return a + b" in texts


@pytest.mark.parametrize("outtype", ["f16", "q8_0"])
def test_f16_and_q8_0_report_agreement(tiny_path: Path, tmp_path: Path, outtype: str) -> None:
    path = export_gguf(tiny_path, tmp_path / f"tiny-{outtype}.gguf", outtype).path
    report = verify_gguf(path, tiny_path, PROMPTS, max_tokens=16, threshold=0.5)
    assert report.loads and report.tokenizer_match and report.outtype == outtype
    assert 0.5 <= report.token_agreement <= 1.0
    assert report.ok


@pytest.mark.parametrize("adapter_name", ["lora_adapter", "pissa_adapter"])
def test_fused_adapters_export_with_exact_parity(
    tiny_path: Path, tmp_path: Path, adapter_name: str, request: pytest.FixtureRequest
) -> None:
    fused = fuse_run(tiny_path, request.getfixturevalue(adapter_name), tmp_path / "fused")
    report = verify_gguf(export_gguf(fused, tmp_path / "fused.gguf", "f32").path, fused, PROMPTS)
    assert report.ok and report.exact, report.model_dump_json(exclude={"tokenizer_checks"})


def test_qwen2_export_is_exact(qwen2_path: Path, tmp_path: Path) -> None:
    report = verify_gguf(export_gguf(qwen2_path, tmp_path / "qwen2.gguf", "f32").path, qwen2_path, PROMPTS)
    assert report.ok and report.exact and report.tokenizer_match, report.tokenizer_mismatch


def test_missing_qk_permutation_is_caught(tiny_path: Path, tmp_path: Path) -> None:
    path = _export(tiny_path, tmp_path / "broken.gguf", "f32", permute_qk=False).path
    report = verify_gguf(path, tiny_path)
    assert not report.ok and report.loads and report.tokenizer_match
    assert report.token_agreement < 1.0 and not report.exact


def test_special_tokens_typed_normal_are_caught(tiny_path: Path, tmp_path: Path) -> None:
    path = _export(tiny_path, tmp_path / "broken.gguf", "f32", special_as_control=False).path
    report = verify_gguf(path, tiny_path, PROMPTS)
    assert not report.ok and not report.tokenizer_match
    assert report.tokenizer_mismatch is not None and "<|im_start|>" in report.tokenizer_mismatch.text


def test_unloadable_file_is_a_failed_report_not_an_exception(tiny_path: Path, tmp_path: Path) -> None:
    good = export_gguf(tiny_path, tmp_path / "tiny.gguf", "f16").path
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    report = verify_gguf(truncated, tiny_path, PROMPTS, max_tokens=4)
    assert not report.ok and not report.loads
    assert report.error and "llama.cpp probe failed" in report.error


def test_q4_k_m_quantizes_through_llama_cpp(tiny256_path: Path, tmp_path: Path) -> None:
    import gguf

    src = export_gguf(tiny256_path, tmp_path / "t.gguf", "f16").path
    info = quantize_q4_k_m(src, tmp_path / "t-q4_k_m.gguf")
    assert info.outtype == "q4_k_m" and info.size_bytes < src.stat().st_size
    types = {t.tensor_type.name for t in gguf.GGUFReader(info.path).tensors}
    assert "Q4_K" in types and "F32" in types
    report = verify_gguf(info.path, tiny256_path, PROMPTS, max_tokens=16)
    # Random weights make near-ties everywhere, so 4-bit agreement is low: report it, don't demand it.
    assert report.loads and report.tokenizer_match and report.outtype == "q4_k_m"
    assert 0.0 < report.token_agreement <= 1.0


def test_probe_keeps_stdout_for_json(tiny_path: Path, tmp_path: Path) -> None:
    path = export_gguf(tiny_path, tmp_path / "tiny.gguf", "f16").path
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "model": str(path),
                "n_ctx": 64,
                "max_tokens": 2,
                "stop_ids": [],
                "texts": ["hi"],
                "decode": [[266]],
                "prompts": [],
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "forge_mcp.deploy.llama_probe", "probe", str(request)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(proc.stdout)
    vocab = json.loads((tiny_path / "config.json").read_text())["vocab_size"]
    assert result["n_vocab"] == vocab and result["prompts"] == [] and len(result["texts"]) == 1


def test_sentencepiece_export_runs_the_same_weights(spm_path: Path, tmp_path: Path) -> None:
    report = verify_gguf(export_gguf(spm_path, tmp_path / "spm.gguf", "f32").path, spm_path, PROMPTS)
    assert report.loads and report.exact
    assert all(p.prompt_ids_match for p in report.prompts)
    # transformers 5's LlamaTokenizer drops one "▁" before text that starts with spaces, where both
    # sentencepiece itself and llama.cpp keep it: the report shows that, it does not hide it.
    if not report.tokenizer_match:
        assert report.tokenizer_mismatch is not None and report.tokenizer_mismatch.text.startswith(" ")
