"""deploy.export: a run fused, exported and verified once, its artefacts reused while inputs are unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_cpp")

from forge_mcp.core.errors import DeployError
from forge_mcp.core.workspace import Workspace
from forge_mcp.deploy.export import export_run
from forge_mcp.judge.models import ModelRef
from tests.conftest import GitRepo


class Steps:
    """The progress callback, recording each step."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, str]] = []

    def __call__(self, done: int, total: int, message: str) -> None:
        self.seen.append((done, total, message))


def workspace(repo: GitRepo, **deploy: Any) -> Workspace:
    return Workspace.open(repo.path, {"deploy": deploy})


def run_ref(tiny_path: Path, adapter: Path | None) -> ModelRef:
    return ModelRef(
        kind="run",
        name="run-1",
        run_id="run-1",
        model_path=str(tiny_path),
        adapter_path=str(adapter) if adapter else None,
    )


def test_export_verifies_once_and_reuses_the_verified_file(repo: GitRepo, tiny_path: Path, lora_adapter: Path) -> None:
    ws, model = workspace(repo, outtype="f32"), run_ref(tiny_path, lora_adapter)
    steps = Steps()
    first = export_run(ws, model, steps)
    folder = ws.export_dir("run-1")
    assert [s[:2] for s in steps.seen] == [(1, 5), (2, 5), (3, 5)]
    assert first.gguf == folder / "model-f32.gguf" and first.gguf.is_file()
    assert first.fused == folder / "fused" and (first.fused / "config.json").is_file()
    assert first.chat_template == json.loads((tiny_path / "tokenizer_config.json").read_text())["chat_template"]
    summary = first.parity_summary
    assert summary["ok"] and summary["exact"] and summary["outtype"] == "f32" and summary["token_agreement"] == 1.0
    assert len(summary["sha256"]) == 64 and "q4_k_m" not in summary
    record = json.loads((folder / "export.json").read_text())
    assert record["key"]["adapter"] == str(lora_adapter) and record["parity"] == summary
    assert record["config"]["deploy"]["outtype"] == "f32"
    assert json.loads((folder / "parity.json").read_text())["ok"] is True

    again = Steps()
    assert export_run(ws, model, again) == first and again.seen == []  # cached: nothing redone

    stat = first.gguf.stat()
    os.utime(first.gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # not the file that was verified
    redone = Steps()
    export_run(ws, model, redone)
    assert len(redone.seen) == 3

    without = Steps()  # the same run id without its adapter is another key: exported again, in place
    base = export_run(ws, run_ref(tiny_path, None), without)
    assert len(without.seen) == 3 and base.gguf == first.gguf and base.parity_summary["exact"]
    assert json.loads((folder / "export.json").read_text())["key"]["adapter"] is None


def test_a_failed_parity_check_blocks_with_the_reason(repo: GitRepo, tiny_path: Path, lora_adapter: Path) -> None:
    ws = workspace(repo, outtype="q8_0", min_agreement=1.0)  # q8_0 rounds: greedy tokens cannot all agree
    with pytest.raises(DeployError, match=r"failed its llama.cpp check.*agree on \d+% of positions \(needs 100%\)"):
        export_run(ws, run_ref(tiny_path, lora_adapter), Steps())
    folder = ws.export_dir("run-1")
    assert json.loads((folder / "parity.json").read_text())["ok"] is False
    assert not (folder / "export.json").exists()
