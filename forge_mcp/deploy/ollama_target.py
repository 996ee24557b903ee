"""The Ollama target, through the official client: upload the GGUF blob (skipped when the server has it),
create `forge/<repo>:<short-sha>` with the chat template, stops, system prompt and sampling parameters,
point `:latest` at it, and roll back by copying an older tag to `:latest`."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

from forge_mcp.core.errors import DeployError, ollama_failures

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?$")
TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$")


def model_name(prefix: str, repo: str) -> str:
    """`forge/<repo>` with the repository name made a valid Ollama model name (lowercase, [a-z0-9._-])."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", repo.lower()).strip("-._") or "repo"
    name = f"{prefix}/{slug}" if prefix else slug
    check_name(name, "latest")
    return name


def check_name(name: str, tag: str) -> None:
    if not NAME.match(name) or not TAG.match(tag):
        raise DeployError(
            f"invalid Ollama model name {name}:{tag}: names are lowercase letters, digits, '.', '_' "
            "and '-' (one optional namespace/), tags letters, digits, '.', '_' and '-'"
        )


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return f"sha256:{sha.hexdigest()}"


class OllamaTarget:
    def __init__(self, host: str, transport: Any = None, timeout: float = 600) -> None:
        import ollama

        self.host = host
        kwargs: dict[str, Any] = {"timeout": timeout}
        if transport is not None:
            kwargs["transport"] = transport  # tests: httpx.MockTransport at the HTTP boundary
        self.client = ollama.Client(host=host, **kwargs)

    def reachable(self) -> bool:
        try:
            self.client.list()
        except ollama_failures():  # any failure to answer means "not usable": the caller picks another target
            return False
        return True

    def deploy(
        self,
        gguf: Path,
        name: str,
        tag: str,
        template: str,
        stops: list[str],
        system: str,
        parameters: dict[str, Any],
        quantize: str | None = None,
    ) -> dict[str, Any]:
        """Create name:tag from the GGUF, then copy it to name:latest; returns the model, digest and whether
        the blob was uploaded."""
        check_name(name, tag)
        digest = file_digest(gguf)
        with self._errors("upload the model"):
            uploaded = not self._has_blob(digest)
            if uploaded:
                self.client.create_blob(gguf)
        model = f"{name}:{tag}"
        with self._errors(f"create {model}"):
            self.client.create(
                model=model,
                files={gguf.name: digest},
                template=template,
                system=system,
                parameters={**parameters, "stop": list(stops)},
                quantize=quantize,
                stream=False,
            )
            self.client.copy(model, f"{name}:latest")
        return {
            "model": model,
            "latest": f"{name}:latest",
            "digest": self.digest_of(model),
            "blob": digest,
            "uploaded": uploaded,
        }

    def point_latest(self, name: str, model: str) -> str | None:
        """Rollback: copy an existing tag to name:latest; returns its digest (None if Ollama does not list it)."""
        with self._errors(f"copy {model} to {name}:latest"):
            self.client.show(model)  # a missing tag is a clear error before anything changes
            self.client.copy(model, f"{name}:latest")
        return self.digest_of(model)

    def digest_of(self, model: str) -> str | None:
        with self._errors("list models"):
            for entry in self.client.list().models:
                if entry.model == model:
                    return entry.digest
        return None

    def _has_blob(self, digest: str) -> bool:
        # The client has no "exists" call; HEAD /api/blobs/<digest> is the API's own check.
        response = self.client._client.head(f"/api/blobs/{digest}")
        return response.status_code == 200

    def _errors(self, doing: str) -> Any:
        return _OllamaErrors(self.host, doing)


class _OllamaErrors:
    """Turn the client's exceptions into DeployError with what was being done."""

    def __init__(self, host: str, doing: str) -> None:
        self.host, self.doing = host, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> Literal[False]:
        import httpx  # lazy: with its CLI extras it costs ~60 ms at start-up

        if exc is None:
            return False
        import ollama

        if isinstance(exc, (ConnectionError, httpx.TransportError)):
            raise DeployError(
                f"Ollama at {self.host} is unreachable (could not {self.doing}): start it with "
                "`ollama serve`, set OLLAMA_HOST, or deploy to target 'llama_cpp'"
            ) from exc
        if isinstance(exc, ollama.ResponseError):
            raise DeployError(f"Ollama refused to {self.doing}: {exc.error} (HTTP {exc.status_code})") from exc
        return False
