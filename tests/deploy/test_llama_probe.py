"""deploy.llama_probe: the llama.cpp side of GGUF checks as its own process (probe and quantize commands)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_cpp")

from forge_mcp.deploy.gguf_export import export_gguf
from forge_mcp.deploy.llama_probe import LOADED_MARK

PROMPT = "def add(a, b):"


@pytest.fixture(scope="module")
def tiny_gguf(tiny_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_gguf(tiny_path, tmp_path_factory.mktemp("probe") / "tiny.gguf", "f32").path


def hf_ids(tiny_path: Path, text: str) -> list[int]:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tiny_path / "tokenizer.json")).encode(text).ids


def run_probe(tmp_path: Path, request: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    cmd = [sys.executable, "-P", "-m", "forge_mcp.deploy.llama_probe", "probe", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def request(gguf: Path, ids: list[int], reference: list[int], stop_ids: list[int] | None = None) -> dict[str, Any]:
    return {
        "model": str(gguf),
        "n_ctx": 256,
        "max_tokens": 8,
        "stop_ids": stop_ids or [],
        "texts": [PROMPT, "<|im_start|>user"],
        "decode": [ids],
        "prompts": [{"text": PROMPT, "add_bos": False, "hf_ids": ids, "reference": reference}],
    }


def test_probe_tokenizes_decodes_and_decodes_greedily(tiny_gguf: Path, tiny_path: Path, tmp_path: Path) -> None:
    ids = hf_ids(tiny_path, PROMPT)
    proc = run_probe(tmp_path, request(tiny_gguf, ids, reference=[5, 6, 7]))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # stdout holds only the JSON: llama.cpp's own output goes to stderr
    assert LOADED_MARK in proc.stderr
    assert result["texts"][0] == ids  # no BOS: the tiny tokenizer adds none
    assert result["texts"][1][0] == 1  # <|im_start|> is one special token
    assert result["decoded"] == [PROMPT]
    [prompt] = result["prompts"]
    assert prompt["ids"] == ids and len(prompt["free"]) == 8 and len(prompt["forced"]) == 3
    assert result["n_vocab"] == json.loads((tiny_path / "config.json").read_text())["vocab_size"]
    assert result["chat_template"] == json.loads((tiny_path / "tokenizer_config.json").read_text())["chat_template"]

    # Teacher forcing along llama.cpp's own greedy path reproduces it; a stop id ends free decoding (kept).
    again = run_probe(tmp_path, request(tiny_gguf, ids, reference=prompt["free"], stop_ids=prompt["free"][:1]))
    assert again.returncode == 0, again.stderr
    [second] = json.loads(again.stdout)["prompts"]
    assert second["forced"] == prompt["free"] and second["free"] == prompt["free"][:1]


def test_probe_of_a_file_that_is_not_a_gguf_fails_before_loading(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf at all")
    proc = run_probe(tmp_path, request(bogus, [1, 2], [3]))
    assert proc.returncode != 0 and proc.stdout == "" and LOADED_MARK not in proc.stderr


def test_quantize_writes_a_q8_0_file(tiny_gguf: Path, tmp_path: Path) -> None:
    import gguf

    out = tmp_path / "tiny-q8_0.gguf"
    cmd = [sys.executable, "-P", "-m", "forge_mcp.deploy.llama_probe", "quantize", str(tiny_gguf), str(out)]
    proc = subprocess.run([*cmd, "--ftype", "7"], capture_output=True, text=True, timeout=120)  # 7 = MOSTLY_Q8_0
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(out).tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32


def test_quantize_failure_is_the_exit_status(tmp_path: Path) -> None:
    cmd = [sys.executable, "-P", "-m", "forge_mcp.deploy.llama_probe", "quantize"]
    proc = subprocess.run(
        [*cmd, str(tmp_path / "missing.gguf"), str(tmp_path / "out.gguf"), "--ftype", "7"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "llama_model_quantize returned" in proc.stderr
    assert not (tmp_path / "out.gguf").exists()


def test_a_command_is_required() -> None:
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "forge_mcp.deploy.llama_probe"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "probe" in proc.stderr and "quantize" in proc.stderr
