"""deploy / rollback end to end: real runs, real GGUF export and llama.cpp check, the real llama.cpp
server, and Ollama through its client against a fake at the HTTP boundary (live test when one answers)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from forge_mcp.core.errors import DeployError
from forge_mcp.core.workspace import Workspace
from forge_mcp.deploy import llama_server
from forge_mcp.deploy.deploy import deploy, list_deployments, rollback, stop_local
from forge_mcp.deploy.log import current_deployment
from forge_mcp.deploy.ollama_target import OllamaTarget, model_name
from forge_mcp.judge.records import JudgeParams
from forge_mcp.judge.validate import validate
from forge_mcp.miner.datasets import build_dataset
from tests.conftest import GitRepo, train_tiny
from tests.deploy.fake_ollama import FakeOllama

pytest.importorskip("llama_cpp")
RUN = {
    "task": "completion",
    "compile": False,
    "max_seq_length": 256,
    "batch_size": 2,
    "iters": 6,
    "steps_per_report": 3,
    "steps_per_eval": 6,
    "learning_rate": 1e-3,
}


@pytest.fixture(scope="module")
def forge(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A repository with two completed runs: the first passes validation (lenient rules), the second fails."""
    repo = GitRepo(tmp_path_factory.mktemp("deploy") / "deploy-me")
    repo.commit(
        "code",
        {
            f"m{i}.py": f'def helper_{i}(value):\n    """Return value plus {i}."""\n'
            f"    total = value + {i}\n    return total\n"
            for i in range(10)
        },
    )
    repo.commit(
        "change", {"m0.py": 'def helper_0(value):\n    """Double it."""\n    doubled = value * 2\n    return doubled\n'}
    )
    ws = Workspace.open(repo.path)
    build_dataset(ws)
    good, bad = train_tiny(ws, **RUN), train_tiny(ws, **RUN)
    validate(ws, JudgeParams(target=good, threshold=0.0, tolerance=1.0, max_examples=1, max_tokens=8))
    validate(ws, JudgeParams(target=bad, max_examples=1, max_tokens=8, gate="absolute"))  # no real code: fails
    return repo.path, [good, bad]


def _ws(path: Path) -> Workspace:
    return Workspace.open(path, {"deploy": {"llama_port": llama_server.free_port()}})


def test_refuses_a_failed_run_unless_forced_and_llama_cpp_end_to_end_with_rollback(forge) -> None:
    path, (good, bad) = forge
    ws = _ws(path)
    unreachable = FakeOllama(reachable=False).transport()
    with pytest.raises(DeployError, match="failed validation"):
        deploy(ws, bad, transport=unreachable)
    assert list_deployments(ws) == []
    first = deploy(ws, good, transport=unreachable, actor="test")  # auto: Ollama down -> llama.cpp
    try:
        assert first.target == "llama_cpp" and first.url.endswith("/v1") and not first.forced
        assert first.parity["ok"] and first.check["usage"]["completion_tokens"] > 0
        assert first.report_id and first.validation_passed is True
        second = deploy(ws, bad, force=True, transport=unreachable, actor="test-user")
        assert second.forced and second.validation_passed is False and second.actor == "test-user"
        assert not llama_server.alive(first.pid) and llama_server.alive(second.pid)
        back = rollback(ws, actor="test")
        assert back.action == "rollback" and back.run_id == good and back.rolled_back_to == first.id
        assert llama_server.chat_check(ws.config.deploy.llama_port)["usage"]["completion_tokens"] > 0
        assert [d.action for d in list_deployments(ws)] == ["rollback", "deploy", "deploy"]
        with pytest.raises(DeployError, match="no llama_cpp deployment with id 99"):
            rollback(ws, deployment_id=99)
        stopped = stop_local(ws, actor="test")
        assert stopped.action == "stop" and not llama_server.alive(back.pid)
        assert current_deployment(ws, "llama_cpp") is None
        with pytest.raises(DeployError, match="no model is being served"):
            stop_local(ws)
        again = rollback(ws, deployment_id=first.id)
        assert current_deployment(ws, "llama_cpp")["id"] == again.id and llama_server.alive(again.pid)
    finally:
        for entry in list_deployments(ws):
            llama_server.stop(entry.pid)


def test_ollama_through_its_client_field_by_field(forge) -> None:
    path, (good, _) = forge
    ws, fake = _ws(path), FakeOllama()
    made = deploy(ws, good, target="ollama", transport=fake.transport(), actor="test")
    name = model_name("forge", "deploy-me")
    sha = ws.store.get_record("runs", good)["git_commit"][:7]
    assert made.target == "ollama" and made.model == f"{name}:{sha}" and made.digest
    calls = [(m, p) for m, p, _ in fake.requests]
    blob = next(p for m, p in calls if m == "HEAD")
    assert calls.index(("HEAD", blob)) < calls.index(("POST", blob)) < calls.index(("POST", "/api/create"))
    create = next(b for m, p, b in fake.requests if p == "/api/create")
    assert create["model"] == f"{name}:{sha}" and list(create["files"].values()) == [blob.rsplit("/", 1)[1]]
    assert "<|im_start|>" in create["template"] and "{{ .Content }}" in create["template"]
    assert create["parameters"]["temperature"] == 0.2 and create["parameters"]["top_k"] == 40
    assert "<|im_end|>" in create["parameters"]["stop"] and "deploy-me" in create["system"]
    copy = next(b for m, p, b in fake.requests if p == "/api/copy")
    assert copy == {"source": f"{name}:{sha}", "destination": f"{name}:latest"}
    fake.requests.clear()
    deploy(ws, good, target="ollama", transport=fake.transport())  # same blob: no second upload
    assert not any(m == "POST" and p.startswith("/api/blobs") for m, p, _ in fake.requests)


def test_a_base_pulled_from_ollama_keeps_its_template_stops_and_parameters(forge) -> None:
    path, (good, _) = forge
    ws, fake = _ws(path), FakeOllama()
    base = Path(json.loads((ws.state_dir / "runs" / good / "run.json").read_text())["model_path"])
    meta = base / "ollama.json"
    template = "{{ if .System }}SYS {{ .System }}{{ end }}{{ range .Messages }}<{{ .Role }}>{{ .Content }}{{ end }}"
    meta.write_text(
        json.dumps(
            {
                "name": "library/coder",
                "tag": "latest",
                "template": template,
                "system": "Be brief.",
                "parameters": {"stop": ["<end>"], "temperature": 0.7, "num_ctx": 4096},
            }
        )
    )
    try:
        deploy(ws, good, target="ollama", transport=fake.transport())
        create = next(b for _, p, b in fake.requests if p == "/api/create")
        assert create["template"] == template and create["parameters"]["stop"] == ["<end>"]
        assert create["parameters"]["temperature"] == 0.7 and create["parameters"]["num_ctx"] == 4096
        assert create["parameters"]["top_k"] == 40  # ours only where the original has none
        # The system prompt is the one the run was trained and validated with.
        run = json.loads((ws.state_dir / "runs" / good / "run.json").read_text())
        assert create["system"] == run["system"]
        fake.requests.clear()
        overriding = Workspace.open(
            path,
            {
                "deploy": {
                    "llama_port": llama_server.free_port(),
                    "temperature": 0.1,
                    "ollama_template": "{{ .Prompt }}",
                    "ollama_stops": ["</s>"],
                }
            },
        )
        deploy(overriding, good, target="ollama", transport=fake.transport())
        create = next(b for _, p, b in fake.requests if p == "/api/create")
        assert create["template"] == "{{ .Prompt }}" and create["parameters"]["stop"] == ["</s>"]
        assert create["parameters"]["temperature"] == 0.1 and create["parameters"]["num_ctx"] == 4096
    finally:
        meta.unlink()


def test_ollama_failures_leave_the_log_unchanged(forge) -> None:
    path, (good, _) = forge
    ws = _ws(path)
    before = len(list_deployments(ws))
    with pytest.raises(DeployError, match="unreachable"):
        deploy(ws, good, target="ollama", transport=FakeOllama(reachable=False).transport())
    with pytest.raises(DeployError, match="refused to create.*unsupported model format"):
        deploy(ws, good, target="ollama", transport=FakeOllama(fail_create=True).transport())
    with pytest.raises(DeployError, match="refused to upload the model: no space left"):
        deploy(ws, good, target="ollama", transport=FakeOllama(fail_upload=True).transport())
    assert len(list_deployments(ws)) == before
    with pytest.raises(DeployError, match="invalid Ollama model name"):
        OllamaTarget("http://127.0.0.1:1", transport=FakeOllama().transport()).deploy(
            Path(__file__), "Bad Name!", "x", "", [], "", {}
        )


def test_ollama_rollback_copies_the_older_tag(forge) -> None:
    path, (good, bad) = forge
    ws, fake = _ws(path), FakeOllama()
    first = deploy(ws, good, target="ollama", transport=fake.transport())
    deploy(ws, bad, target="ollama", force=True, transport=fake.transport())
    back = rollback(ws, target="ollama", transport=fake.transport())
    assert back.model == first.model and back.rolled_back_to is not None
    name = first.model.rsplit(":", 1)[0]
    assert fake.models[f"{name}:latest"]["digest"] == fake.models[first.model]["digest"]


@pytest.mark.skipif(not os.environ.get("OLLAMA_HOST"), reason="live test: needs a reachable OLLAMA_HOST")
def test_live_ollama(forge) -> None:
    path, (good, _) = forge
    ws = _ws(path)
    if not OllamaTarget(os.environ["OLLAMA_HOST"]).reachable():
        pytest.skip(f"Ollama at {os.environ['OLLAMA_HOST']} does not answer")
    made = deploy(ws, good, target="ollama")
    assert made.digest and OllamaTarget(os.environ["OLLAMA_HOST"]).digest_of(made.model) == made.digest


def test_a_broken_export_blocks_the_deployment(forge, monkeypatch) -> None:
    from forge_mcp.deploy import export, gguf_export

    path, (good, _) = forge
    ws = _ws(path)
    before = len(list_deployments(ws))

    def without_permutation(model_dir: Path, out_path: Path, outtype: str = "f16") -> object:
        return gguf_export._export(model_dir, out_path, outtype, permute_qk=False)  # a layout bug

    monkeypatch.setattr(export, "export_gguf", without_permutation)  # where the export step calls it
    (ws.export_dir(good) / "export.json").unlink(missing_ok=True)  # no cached, verified file
    with pytest.raises(DeployError, match="failed its llama.cpp check.*agree on"):
        deploy(ws, good, target="llama_cpp")
    assert len(list_deployments(ws)) == before
    assert not json.loads((ws.state_dir / "exports" / good / "parity.json").read_text())["ok"]
