from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def rewrite_gguf(
    src: Path,
    dst: Path,
    *,
    arch: str | None = None,
    fields: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    qtype_for: Callable[[str, int], str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Copy a GGUF, changing its architecture, setting or dropping metadata, changing tensor types (by name and
    index), dropping tensors (names in `drop`) or adding float32 tensors, through gguf's own reader and writer."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(src)
    old = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch or old)
    overrides = dict(fields or {})
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture" or name in drop:
            continue
        key = f"{arch}.{name[len(old) + 1 :]}" if arch and name.startswith(f"{old}.") else name
        value = overrides.pop(key, field.contents())
        sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, field.types[0], sub_type=sub)
    kinds = {
        bool: gguf.GGUFValueType.BOOL,
        int: gguf.GGUFValueType.UINT32,
        float: gguf.GGUFValueType.FLOAT32,
        str: gguf.GGUFValueType.STRING,
    }
    for key, value in overrides.items():
        writer.add_key_value(key, value, kinds[type(value)])
    for index, t in enumerate(reader.tensors):
        if t.name in drop:
            continue
        data = gguf.quants.dequantize(t.data, t.tensor_type).reshape(tuple(int(d) for d in reversed(t.shape)))
        qtype = gguf.GGMLQuantizationType[qtype_for(t.name, index)] if qtype_for and data.ndim == 2 else t.tensor_type
        writer.add_tensor(t.name, gguf.quants.quantize(data.astype(np.float32), qtype), raw_dtype=qtype)
    for name, data in (extra or {}).items():
        writer.add_tensor(name, np.asarray(data, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


class _ShowHandler(BaseHTTPRequestHandler):
    models: dict[str, dict[str, Any]] = {}

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        found = self.models.get(body.get("model", ""))
        payload = found or {"error": f"model '{body.get('model')}' not found"}
        data = json.dumps(payload).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ollama_server() -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    """A real HTTP server on a free local port answering /api/show like Ollama does."""
    models: dict[str, dict[str, Any]] = {}
    handler = type("Handler", (_ShowHandler,), {"models": models})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", models
    server.shutdown()
    server.server_close()
