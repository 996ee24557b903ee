"""How forge-mcp loads llama.cpp (llama-cpp-python): without the CPU's extra buffer types.

On CPUs with AMX (Intel Sapphire Rapids and later, flags amx_bf16/amx_int8/amx_tile), loading a Q8_0 or
Q4_K file with llama.cpp's default model parameters and decoding segfaults (reproducible, also with one
thread); the same load with `use_extra_bufts = false` (no AMX / repacked-weight buffers) runs fine. The
extra buffers only speed up some matmuls, so every load of ours turns them off: verification, the probe and
the local server. `llama_cpp.Llama` has no keyword for the field, so its default-parameters factory is
wrapped before a model is loaded. Set FORGE_LLAMA_EXTRA_BUFTS=1 to keep llama.cpp's default.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any


def disable_extra_buffer_types() -> None:
    """Make every later `llama_cpp.Llama(...)` load with `use_extra_bufts = False` (idempotent)."""
    if os.environ.get("FORGE_LLAMA_EXTRA_BUFTS") == "1":
        return
    import llama_cpp.llama_cpp as native

    factory = native.llama_model_default_params
    if getattr(factory, "_forge_safe", False):
        return

    def safe_params() -> Any:
        params = factory()
        params.use_extra_bufts = False
        return params

    safe_params._forge_safe = True  # type: ignore[attr-defined]  # a marker attribute mypy cannot see on a function
    native.llama_model_default_params = safe_params


def main() -> None:
    """`python -m forge_mcp.deploy.llama_runtime ARGS`: llama-cpp-python's OpenAI server, loaded safely."""
    disable_extra_buffer_types()
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
