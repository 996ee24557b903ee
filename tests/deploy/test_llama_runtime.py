"""deploy.llama_runtime: every llama.cpp load of ours without the extra buffer types, and the server wrapper."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_cpp")

from forge_mcp.deploy.gguf_export import export_gguf
from forge_mcp.deploy.llama_runtime import disable_extra_buffer_types


@pytest.fixture
def native(monkeypatch: pytest.MonkeyPatch) -> Any:
    """llama_cpp's native module; whatever a test does to its default-parameters factory is undone afterwards."""
    import llama_cpp.llama_cpp as native

    monkeypatch.setattr(native, "llama_model_default_params", native.llama_model_default_params)
    return native


def test_loads_get_no_extra_buffer_types_and_wrapping_is_idempotent(native: Any) -> None:
    disable_extra_buffer_types()
    wrapped = native.llama_model_default_params
    assert wrapped().use_extra_bufts is False
    assert wrapped().n_gpu_layers == native.llama_model_default_params().n_gpu_layers  # the rest is the default
    disable_extra_buffer_types()
    assert native.llama_model_default_params is wrapped  # not wrapped twice


def test_the_environment_can_keep_llama_cpp_defaults(native: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGE_LLAMA_EXTRA_BUFTS", "1")
    before = native.llama_model_default_params
    disable_extra_buffer_types()
    assert native.llama_model_default_params is before


def test_a_model_loads_and_runs_with_the_wrapped_parameters(
    native: Any, tiny_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_cpp import Llama

    gguf = export_gguf(tiny_path, tmp_path / "tiny.gguf", "f32").path
    seen: list[bool] = []
    disable_extra_buffer_types()
    wrapped = native.llama_model_default_params

    def recording() -> Any:
        params = wrapped()
        seen.append(params.use_extra_bufts)
        return params

    monkeypatch.setattr(native, "llama_model_default_params", recording)
    llm = Llama(model_path=str(gguf), n_ctx=64, n_threads=1, verbose=False)
    try:
        assert seen and not any(seen)  # Llama(...) built its parameters through the wrapper
        llm.eval(llm.tokenize(b"def add(a, b):", add_bos=False))
        assert llm.n_tokens > 0
    finally:
        llm.close()


def test_main_is_llama_cpp_s_server() -> None:
    cmd = [sys.executable, "-P", "-m", "forge_mcp.deploy.llama_runtime", "--help"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--model" in proc.stdout and "--n_ctx" in proc.stdout
