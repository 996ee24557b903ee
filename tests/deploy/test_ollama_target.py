"""deploy/ollama_target.py directly, through the official client against the hand-written fake Ollama at the
HTTP boundary (tests/deploy/test_deploy.py goes through deploy() with a real exported GGUF)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from forge_mcp.core.errors import DeployError
from forge_mcp.deploy.ollama_target import OllamaTarget, check_name, file_digest, model_name
from tests.deploy.fake_ollama import FakeOllama

HOST = "http://127.0.0.1:11434"


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    return path


def test_names_and_digests(gguf: Path) -> None:
    assert model_name("forge", "My Repo!") == "forge/my-repo" and model_name("", "...") == "repo"
    check_name("forge/shop", "abc1234")
    for name, tag in (("Forge/shop", "x"), ("forge/shop", "-x"), ("a/b/c", "x"), ("forge/shop", "t" * 129)):
        with pytest.raises(DeployError, match="invalid Ollama model name"):
            check_name(name, tag)
    assert file_digest(gguf) == "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()


def test_deploy_uploads_once_creates_and_points_latest(gguf: Path) -> None:
    fake = FakeOllama()
    target = OllamaTarget(HOST, transport=fake.transport())
    assert target.reachable()
    made = target.deploy(
        gguf, "forge/shop", "abc1234", "{{ .Prompt }}", ["<|im_end|>"], "Be brief.", {"temperature": 0.2}
    )
    assert made["model"] == "forge/shop:abc1234" and made["latest"] == "forge/shop:latest" and made["uploaded"]
    assert made["blob"] == file_digest(gguf) and made["digest"] == fake.models["forge/shop:abc1234"]["digest"]
    create = next(body for _, path, body in fake.requests if path == "/api/create")
    assert create["files"] == {"model.gguf": made["blob"]} and create["system"] == "Be brief."
    assert create["parameters"] == {"temperature": 0.2, "stop": ["<|im_end|>"]}
    assert create["template"] == "{{ .Prompt }}"
    assert fake.models["forge/shop:latest"] == fake.models["forge/shop:abc1234"]
    again = target.deploy(gguf, "forge/shop", "def5678", "{{ .Prompt }}", [], "", {})
    assert not again["uploaded"] and sum(1 for m, p, _ in fake.requests if m == "POST" and "blobs" in p) == 1


def test_rollback_copies_an_existing_tag_and_refuses_a_missing_one(gguf: Path) -> None:
    fake = FakeOllama()
    target = OllamaTarget(HOST, transport=fake.transport())
    first = target.deploy(gguf, "forge/shop", "one", "{{ .Prompt }}", [], "", {})
    target.deploy(gguf, "forge/shop", "two", "{{ .Prompt }} v2", [], "", {})
    assert fake.models["forge/shop:latest"]["template"].endswith("v2")
    assert target.point_latest("forge/shop", "forge/shop:one") == first["digest"]
    assert fake.models["forge/shop:latest"] == fake.models["forge/shop:one"]
    with pytest.raises(DeployError, match="Ollama refused to copy forge/shop:gone to forge/shop:latest: .*not found"):
        target.point_latest("forge/shop", "forge/shop:gone")
    assert target.digest_of("forge/shop:never") is None


def test_failures_say_what_was_being_done(gguf: Path) -> None:
    down = OllamaTarget(HOST, transport=FakeOllama(reachable=False).transport())
    assert not down.reachable()
    with pytest.raises(DeployError, match=f"Ollama at {HOST} is unreachable .*upload the model.*llama_cpp"):
        down.deploy(gguf, "forge/shop", "x", "t", [], "", {})
    full = OllamaTarget(HOST, transport=FakeOllama(fail_upload=True).transport())
    with pytest.raises(DeployError, match=r"refused to upload the model: no space left on device \(HTTP 507\)"):
        full.deploy(gguf, "forge/shop", "x", "t", [], "", {})
    broken = FakeOllama(fail_create=True)
    with pytest.raises(DeployError, match="refused to create forge/shop:x: unsupported model format"):
        OllamaTarget(HOST, transport=broken.transport()).deploy(gguf, "forge/shop", "x", "t", [], "", {})
    assert broken.models == {}
