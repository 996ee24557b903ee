from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forge_mcp.train.tiny import build_tiny_model

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def sub(a, b):\n    return a - b\n",
    "class Stack:\n    def push(self, x):\n        self.items.append(x)\n",
    "def greet(name):\n    return f'hello {name}'\n",
] * 20


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", CORPUS)


def weights(folder: Path) -> dict[str, Any]:
    """A model folder's tensors as float32 numpy arrays, by name."""
    import mlx.core as mx
    import numpy as np

    loaded: dict[str, Any] = mx.load(str(folder / "model.safetensors"))
    return {k: np.array(v.astype(mx.float32)) for k, v in loaded.items()}
