"""train.ollama_source: `ollama:NAME[:TAG]` resolved from a real on-disk Ollama store, else from the server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from forge_mcp.core.errors import GGUFImportError, GGUFNotFoundError
from forge_mcp.train.ollama_source import (
    OLLAMA_FILE,
    OLLAMA_REGISTRY,
    OllamaMeta,
    blob_digest,
    ollama_store,
    parse_ollama_name,
    parse_ollama_parameters,
    resolve_ollama,
    write_ollama,
)

MEDIA = "application/vnd.ollama.image."
TEMPLATE = "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}<|im_start|>user\n{{ .Prompt }}"
WEIGHTS = b"GGUF\x03\x00\x00\x00" + b"\x00" * 56  # resolving never reads the weights: any bytes stand for them


class Store:
    """An Ollama store as `ollama pull` leaves it: content-addressed blobs and manifests naming them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)

    def blob(self, data: bytes, media: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / f"sha256-{digest}").write_bytes(data)
        return {"mediaType": media, "digest": f"sha256:{digest}", "size": len(data)}

    def manifest(
        self, name: str, tag: str, layers: list[dict[str, Any]], namespace: str = "library", registry: str = ""
    ) -> Path:
        path = self.root / "manifests" / (registry or OLLAMA_REGISTRY) / namespace / name / tag
        path.parent.mkdir(parents=True, exist_ok=True)
        config = self.blob(b'{"model_format":"gguf"}', "application/vnd.docker.container.image.v1+json")
        path.write_text(json.dumps({"schemaVersion": 2, "config": config, "layers": layers}))
        return path

    def model(self, name: str, tag: str = "latest", namespace: str = "library", registry: str = "") -> Path:
        layers = [
            self.blob(WEIGHTS, MEDIA + "model"),
            self.blob(TEMPLATE.encode(), MEDIA + "template"),
            self.blob(b"You write tidy Python.", MEDIA + "system"),
            self.blob(json.dumps({"stop": ["<|im_end|>"], "temperature": 0.2}).encode(), MEDIA + "params"),
            self.blob(b"Apache-2.0", MEDIA + "license"),
        ]
        self.manifest(name, tag, layers, namespace, registry)
        return self.root / "blobs" / f"sha256-{hashlib.sha256(WEIGHTS).hexdigest()}"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    return Store(tmp_path / "ollama")


def test_store_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "models"))
    assert ollama_store() == tmp_path / "models"
    monkeypatch.delenv("OLLAMA_MODELS")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ollama_store() == tmp_path / ".ollama" / "models"


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("qwen2.5-coder", (OLLAMA_REGISTRY, "library", "qwen2.5-coder", "latest")),
        ("qwen2.5-coder:1.5b", (OLLAMA_REGISTRY, "library", "qwen2.5-coder", "1.5b")),
        ("user/x:v1", (OLLAMA_REGISTRY, "user", "x", "v1")),
        ("hf.co/user/Repo-GGUF:Q4_K_M", ("hf.co", "user", "Repo-GGUF", "Q4_K_M")),
    ],
)
def test_parse_ollama_name(ref: str, parsed: tuple[str, str, str, str]) -> None:
    assert parse_ollama_name(ref) == parsed


@pytest.mark.parametrize("ref", ["", ":tag", "a/b/c/d:tag", "../etc/passwd", "x:../up", ".hidden", "x" * 301])
def test_names_that_could_leave_the_store_are_refused(ref: str) -> None:
    with pytest.raises(GGUFImportError, match="not an Ollama model name"):
        parse_ollama_name(ref)


def test_a_model_from_the_store_with_its_template_system_and_parameters(store: Store) -> None:
    weights = store.model("tinycoder", "v1")
    path, label, meta = resolve_ollama("tinycoder:v1", host="http://127.0.0.1:1")
    assert path == weights and label == "ollama:tinycoder:v1"
    assert meta == OllamaMeta(
        name="library/tinycoder",
        tag="v1",
        template=TEMPLATE,
        system="You write tidy Python.",
        parameters={"stop": ["<|im_end|>"], "temperature": 0.2},
        source="store",
    )
    assert blob_digest(path) == hashlib.sha256(WEIGHTS).hexdigest()


def test_namespaces_and_registries_label_the_model(store: Store) -> None:
    store.model("x", namespace="user")
    store.model("Repo-GGUF", "Q4_K_M", namespace="user", registry="hf.co")
    assert resolve_ollama("user/x", None)[1] == "ollama:user/x:latest"
    _, label, meta = resolve_ollama("hf.co/user/Repo-GGUF:Q4_K_M", None)
    assert label == "ollama:hf.co/user/Repo-GGUF:Q4_K_M" and meta.registry == "hf.co" and meta.name == "user/Repo-GGUF"


def test_a_model_with_only_weights_has_no_extras(store: Store) -> None:
    store.manifest("bare", "latest", [store.blob(WEIGHTS, MEDIA + "model")])
    _, _, meta = resolve_ollama("bare", None)
    assert (meta.template, meta.system, meta.parameters) == (None, None, {})


def test_broken_store_entries_are_refused_clearly(store: Store) -> None:
    store.manifest("lora", "latest", [store.blob(WEIGHTS, MEDIA + "model"), store.blob(b"x", MEDIA + "adapter")])
    with pytest.raises(GGUFImportError, match="adapter layer"):
        resolve_ollama("lora", None)
    store.manifest("noweights", "latest", [store.blob(TEMPLATE.encode(), MEDIA + "template")])
    with pytest.raises(GGUFImportError, match="no application/vnd.ollama.image.model layer"):
        resolve_ollama("noweights", None)
    store.manifest("gone", "latest", [{"mediaType": MEDIA + "model", "digest": "sha256:" + "0" * 64}])
    with pytest.raises(GGUFNotFoundError, match="missing from .*blobs; run `ollama pull gone:latest` again"):
        resolve_ollama("gone", None)
    bad = store.manifest("bad", "latest", [])
    bad.write_text("{not json")
    with pytest.raises(GGUFImportError, match="unreadable Ollama manifest"):
        resolve_ollama("bad", None)


def test_the_server_supplies_what_the_store_lacks(
    store: Store, tmp_path: Path, ollama_server: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    host, models = ollama_server
    blob = Store(tmp_path / "elsewhere").model("tinycoder", "v1")  # readable here, but not in OLLAMA_MODELS
    models["tinycoder:v1"] = {
        "modelfile": f'# Modelfile generated by "ollama show"\nFROM {blob}\nTEMPLATE """{TEMPLATE}"""\n'
        'SYSTEM """Be brief.\nAlways."""\nPARAMETER stop <|im_end|>\n',
        "template": TEMPLATE,
        "parameters": 'stop                 "<|im_end|>"\nstop "<|im_start|>"\nnum_ctx              4096',
        "details": {"format": "gguf"},
        "model_info": {},
    }
    path, label, meta = resolve_ollama("tinycoder:v1", host)
    assert path == blob and label == "ollama:tinycoder:v1" and meta.source == "server"
    assert (meta.template, meta.system) == (TEMPLATE, "Be brief.\nAlways.")
    assert meta.parameters == {"stop": ["<|im_end|>", "<|im_start|>"], "num_ctx": 4096}
    blob.unlink()
    with pytest.raises(GGUFNotFoundError, match="cannot hand out the GGUF"):
        resolve_ollama("tinycoder:v1", host)


def test_a_model_in_neither_place(store: Store, ollama_server: tuple[str, dict[str, dict[str, Any]]]) -> None:
    for host, why in ((ollama_server[0], "HTTP 404"), ("http://127.0.0.1:1", "unreachable")):
        with pytest.raises(GGUFNotFoundError) as err:
            resolve_ollama("user/missing", host)
        message = str(err.value)
        assert why in message and host in message and "ollama pull user/missing:latest" in message


def test_host_defaults_to_ollama_host(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:1")
    with pytest.raises(GGUFNotFoundError, match="http://127.0.0.1:1"):
        resolve_ollama("missing", None)


def test_parse_ollama_parameters() -> None:
    text = 'stop "<|im_end|>"\n\nstop "<|endoftext|>"\ntemperature 0.2\nnum_ctx 4096\nmirostat_tau tau\n'
    assert parse_ollama_parameters(text) == {
        "stop": ["<|im_end|>", "<|endoftext|>"],
        "temperature": 0.2,
        "num_ctx": 4096,
        "mirostat_tau": "tau",
    }
    assert parse_ollama_parameters("") == {}


def test_blob_digest() -> None:
    assert blob_digest(Path("blobs") / ("sha256-" + "a" * 64)) == "a" * 64
    assert blob_digest(Path("model.gguf")) is None
    assert blob_digest(Path("sha256-" + "A" * 64)) is None


def test_write_ollama_rewrites_only_on_change(tmp_path: Path) -> None:
    meta = OllamaMeta(name="library/x", template=TEMPLATE, parameters={"stop": ["<|im_end|>"]})
    write_ollama(tmp_path, meta)
    path = tmp_path / OLLAMA_FILE
    assert OllamaMeta.model_validate_json(path.read_text()) == meta
    before = path.stat().st_mtime_ns
    path.touch()
    touched = path.stat().st_mtime_ns
    write_ollama(tmp_path, meta)
    assert path.stat().st_mtime_ns == touched  # unchanged: not rewritten
    write_ollama(tmp_path, meta.model_copy(update={"tag": "v2"}))
    assert json.loads(path.read_text())["tag"] == "v2"
    assert before <= path.stat().st_mtime_ns
