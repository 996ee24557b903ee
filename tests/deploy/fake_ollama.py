"""A hand-written Ollama server at the HTTP boundary (httpx.MockTransport), shaped on the real API:
HEAD/POST /api/blobs/<digest>, POST /api/create, POST /api/copy, POST /api/show, GET /api/tags.
It keeps every request so tests can check them field by field."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx


class FakeOllama:
    def __init__(self, reachable: bool = True, fail_create: bool = False, fail_upload: bool = False) -> None:
        self.reachable, self.fail_create, self.fail_upload = reachable, fail_create, fail_upload
        self.blobs: dict[str, int] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.reachable:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        path, method = request.url.path, request.method
        body = (
            json.loads(request.content)
            if method == "POST" and path.startswith("/api/") and not path.startswith("/api/blobs")
            else None
        )
        self.requests.append((method, path, body))
        if path.startswith("/api/blobs/"):
            return self._blob(method, path.rsplit("/", 1)[1], request)
        if path == "/api/tags":
            return httpx.Response(
                200,
                json={
                    "models": [
                        {
                            "name": m,
                            "model": m,
                            "modified_at": "2026-11-23T05:00:00Z",
                            "size": v["size"],
                            "digest": v["digest"],
                            "details": {
                                "parent_model": "",
                                "format": "gguf",
                                "family": "llama",
                                "families": ["llama"],
                                "parameter_size": "1M",
                                "quantization_level": "F16",
                            },
                        }
                        for m, v in self.models.items()
                    ]
                },
            )
        if path == "/api/create":
            return self._create(body)
        if path == "/api/copy":
            if body["source"] not in self.models:
                return httpx.Response(404, json={"error": f"model '{body['source']}' not found"})
            self.models[body["destination"]] = dict(self.models[body["source"]])
            return httpx.Response(200)
        if path == "/api/show":
            if body["model"] not in self.models:
                return httpx.Response(404, json={"error": f"model '{body['model']}' not found"})
            return httpx.Response(
                200,
                json={
                    "modelfile": "",
                    "template": self.models[body["model"]]["template"],
                    "details": {"format": "gguf"},
                    "model_info": {},
                },
            )
        return httpx.Response(404, json={"error": "not found"})

    def _blob(self, method: str, digest: str, request: httpx.Request) -> httpx.Response:
        if method == "HEAD":
            return httpx.Response(200 if digest in self.blobs else 404)
        if self.fail_upload:
            return httpx.Response(507, json={"error": "no space left on device"})
        data = request.read()
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            return httpx.Response(400, json={"error": "digest mismatch"})
        self.blobs[digest] = len(data)
        return httpx.Response(201)

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        if self.fail_create:
            return httpx.Response(500, json={"error": "unsupported model format"})
        missing = [d for d in body.get("files", {}).values() if d not in self.blobs]
        if missing:
            return httpx.Response(400, json={"error": f"missing blob {missing[0]}"})
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        self.models[body["model"]] = {"digest": digest, "size": sum(self.blobs.values()), "template": body["template"]}
        return httpx.Response(200, json={"status": "success"})
