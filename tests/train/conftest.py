from __future__ import annotations

from pathlib import Path

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
