"""`deploy_model` and `rollback_model`: gate on validation, fuse, export a GGUF, verify it in llama.cpp,
serve it (Ollama, or the local llama.cpp server), and log it. Nothing is logged unless it took effect."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from forge_mcp.core import uris
from forge_mcp.core.errors import DeployError
from forge_mcp.core.kinds import Progress, Target
from forge_mcp.core.workspace import Workspace
from forge_mcp.deploy import llama_server
from forge_mcp.deploy.export import export_run
from forge_mcp.deploy.log import current_deployment
from forge_mcp.deploy.ollama_target import OllamaTarget, file_digest, model_name
from forge_mcp.deploy.templates import ollama_template
from forge_mcp.judge.models import candidate_model
from forge_mcp.train.formatting import system_prompt
from forge_mcp.train.params import RunPaths

STEPS = 5


class Deployment(BaseModel):
    """One entry of the deployment log."""

    id: int
    action: Literal["deploy", "rollback", "stop"]
    created_at: float
    target: Literal["ollama", "llama_cpp"]
    model: str = Field(description="Ollama model:tag, or the GGUF served by llama.cpp")
    digest: str | None = Field(None, description="Ollama's digest of the model, or the GGUF's sha256")
    run_id: str | None
    git_commit: str | None
    report_id: str | None = Field(None, description="The validation report the deployment rests on")
    validation_passed: bool | None = None
    forced: bool = Field(False, description="Deployed although validation failed or was missing")
    actor: str = Field(description="Who asked (CLI user or MCP client)")
    url: str | None = Field(None, description="Where the model answers (llama.cpp: an OpenAI-compatible /v1)")
    pid: int | None = Field(None, description="llama.cpp: the server's process id")
    gguf: str | None = None
    parity: dict[str, Any] | None = Field(None, description="llama.cpp vs mlx: ok, token agreement, outtype")
    check: dict[str, Any] | None = Field(None, description="The chat completion that proved the model serves")
    rolled_back_to: int | None = Field(None, description="Rollback: the deployment id now served again")


def as_deployment(entry: dict[str, Any]) -> Deployment:
    data = entry["data"]
    return Deployment(
        id=entry["id"],
        action=entry["action"],
        created_at=entry["created_at"],
        run_id=entry["run_id"],
        git_commit=entry["git_commit"],
        **{k: v for k, v in data.items() if k in Deployment.model_fields},
    )


def list_deployments(ws: Workspace, limit: int = 100) -> list[Deployment]:
    return [as_deployment(e) for e in ws.store.deployments(limit=limit)]


def _gate(ws: Workspace, run_id: str, force: bool) -> tuple[dict[str, Any], bool]:
    """The run's validation; refuses a failed or unvalidated run unless forced. Returns (validation, forced)."""
    validation = ws.store.get_record("runs", run_id)["data"].get("validation")
    if validation and validation.get("passed"):
        return validation, False
    if not force:
        why = ("failed validation (report " + validation["report_id"] + ")") if validation else "was never validated"
        raise DeployError(
            f"run {run_id} {why}: deploy refuses it. Validate it (validate_model) or, only if the "
            "user explicitly asks, deploy with force=true (the log records the override)"
        )
    return validation or {}, True


def choose_target(ws: Workspace, target: Target, transport: Any = None) -> tuple[str, OllamaTarget | None]:
    cfg = ws.config.deploy
    wanted = cfg.target if target == "auto" else target
    if wanted in ("auto", "ollama"):
        ollama = OllamaTarget(ollama_host(ws), transport=transport)
        if ollama.reachable():
            return "ollama", ollama
        if wanted == "ollama":
            raise DeployError(
                f"Ollama at {ollama.host} is unreachable: start it (`ollama serve`), set OLLAMA_HOST "
                "or [deploy] ollama_host, or deploy to target 'llama_cpp'"
            )
    return "llama_cpp", None


def ollama_host(ws: Workspace) -> str:

    return os.environ.get("OLLAMA_HOST") or ws.config.deploy.ollama_host


def deploy(
    ws: Workspace,
    run_id: str = "latest",
    target: Target = "auto",
    force: bool = False,
    actor: str = "cli",
    progress: Progress | None = None,
    transport: Any = None,
) -> Deployment:

    report = progress or (lambda done, total, message: None)
    model = candidate_model(ws, run_id, "tiny")  # 'latest' or a run id; refuses runs still training or failed
    assert model.run_id is not None
    validation, forced = _gate(ws, model.run_id, force)
    chosen, ollama = choose_target(ws, target, transport)
    report(0, STEPS, f"exporting {model.run_id} (fuse, GGUF, llama.cpp parity)")
    exported = export_run(ws, model, report)
    record = ws.store.get_record("runs", model.run_id)
    common = {
        "target": chosen,
        "report_id": validation.get("report_id"),
        "validation_passed": validation.get("passed"),
        "forced": forced,
        "actor": actor,
        "gguf": str(exported.gguf),
        "parity": exported.parity_summary,
    }
    report(4, STEPS, f"deploying to {chosen}")
    if ollama is not None:
        data = common | _to_ollama(ws, ollama, exported, record["git_commit"], model.run_id)
    else:
        data = common | _to_llama_cpp(ws, exported.gguf)
    ws.store.append_deployment("deploy", data, run_id=model.run_id, git_commit=record["git_commit"])
    report(STEPS, STEPS, f"deployed {data['model']}")
    return as_deployment(ws.store.deployments(limit=1)[0])


def _to_ollama(ws: Workspace, ollama: OllamaTarget, exported: Any, commit: str | None, run_id: str) -> dict[str, Any]:

    cfg = ws.config.deploy
    name = model_name(cfg.name_prefix, ws.name)
    tag = _tag(ws, name, commit, run_id)
    template = ollama_template(exported.chat_template, cfg.ollama_template, cfg.ollama_stops)
    run = json.loads(RunPaths(ws.run_dir(run_id)).run.read_text(encoding="utf-8"))
    text, stops, parameters, family = _ollama_settings(ws, Path(run["model_path"]), template)
    # The system prompt the run was trained and validated with (the user's, Ollama's original, or ours).
    system = run.get("system") or cfg.system or system_prompt(ws.name)
    made = ollama.deploy(
        exported.gguf,
        name,
        tag,
        text,
        stops,
        system,
        parameters,
        quantize="q4_K_M" if cfg.quantize == "q4_k_m" else None,
    )
    return {
        "model": made["model"],
        "digest": made["digest"],
        "url": ollama.host,
        "check": {"uploaded": made["uploaded"], "blob": made["blob"], "latest": made["latest"], "template": family},
    }


def _ollama_settings(ws: Workspace, base: Path, template: Any) -> tuple[str, list[str], dict[str, Any], str]:
    """(template, stops, parameters, family): a base pulled from Ollama keeps its own template, stops and
    parameters (its ollama.json, written at import) unless forge.toml or the environment sets them."""
    cfg = ws.config.deploy
    given = cfg.model_fields_set
    ours: dict[str, Any] = {"temperature": cfg.temperature, "top_k": cfg.top_k}
    meta_file = base / "ollama.json"
    if not meta_file.is_file():
        return template.template, list(template.stops), ours, template.family
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    original = dict(meta.get("parameters") or {})
    stops = original.pop("stop", None)
    stops = [stops] if isinstance(stops, str) else list(stops or [])
    parameters = original | {k: v for k, v in ours.items() if k in given or k not in original}
    if "ollama_template" in given or not meta.get("template"):
        return template.template, list(template.stops), parameters, template.family
    if "ollama_stops" in given:
        stops = list(cfg.ollama_stops)
    return str(meta["template"]), stops or list(template.stops), parameters, "from the Ollama base model"


def _tag(ws: Workspace, name: str, commit: str | None, run_id: str) -> str:
    """<short-sha>; a second run on the same commit gets <short-sha>-<run suffix> so older tags stay."""
    short = (commit or "nocommit")[:7]
    for entry in ws.store.deployments(limit=10_000):
        if entry["data"].get("model") == f"{name}:{short}" and entry["run_id"] != run_id:
            return f"{short}-{run_id[-6:]}"
    return short


def _to_llama_cpp(ws: Workspace, gguf: Path) -> dict[str, Any]:

    port = ws.config.deploy.llama_port
    previous = current_deployment(ws, "llama_cpp")
    old_pid = previous["data"].get("pid") if previous else None
    llama_server.stop(old_pid)  # one local server per repository, on its configured port
    log = ws.deployments_dir / "llama-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        pid = llama_server.start(gguf, port, log)
        check = llama_server.chat_check(port)
    except DeployError:
        if previous and Path(previous["data"].get("gguf", "")).is_file():
            _restart(ws, previous)  # put the old model back: a failed deployment changes nothing
        raise
    return {
        "model": f"{gguf.parent.name}/{gguf.name}",
        "digest": _sha(gguf),
        "url": f"http://{llama_server.HOST}:{port}/v1",
        "pid": pid,
        "port": port,
        "check": check,
    }


def _restart(ws: Workspace, entry: dict[str, Any]) -> None:

    pid = llama_server.start(
        Path(entry["data"]["gguf"]), ws.config.deploy.llama_port, ws.deployments_dir / "llama-server.log"
    )
    ws.store.append_deployment(
        "rollback",
        entry["data"]
        | {"pid": pid, "rolled_back_to": entry["id"], "actor": "forge (restored after a failed deployment)"},
        run_id=entry["run_id"],
        git_commit=entry["git_commit"],
    )


def _sha(path: Path) -> str:

    return file_digest(path)


def rollback(
    ws: Workspace, deployment_id: int | None = None, target: Target = "auto", actor: str = "cli", transport: Any = None
) -> Deployment:
    """Serve an earlier deployment again (default: the one before the current of that target); logged."""
    entries = [e for e in ws.store.deployments(limit=10_000) if e["action"] in ("deploy", "rollback", "stop")]
    current = next((e for e in entries if target == "auto" or e["data"].get("target") == target), None)
    if current is None:
        raise DeployError("nothing has been deployed yet: there is nothing to roll back")
    entries = [e for e in entries if e["action"] != "stop"]
    kind = current["data"]["target"]
    goal = _rollback_goal(entries, current, kind, deployment_id)
    if kind == "ollama":
        ollama = OllamaTarget(ollama_host(ws), transport=transport)
        name = goal["data"]["model"].rsplit(":", 1)[0]
        data = goal["data"] | {"digest": ollama.point_latest(name, goal["data"]["model"])}
    else:
        gguf = Path(goal["data"].get("gguf", ""))
        if not gguf.is_file():
            raise DeployError(f"deployment {goal['id']}'s GGUF {gguf} is gone: deploy its run again instead")
        data = goal["data"] | _to_llama_cpp(ws, gguf)
    data |= {"actor": actor, "rolled_back_to": goal["id"], "forced": goal["data"].get("forced", False)}
    ws.store.append_deployment("rollback", data, run_id=goal["run_id"], git_commit=goal["git_commit"])
    return as_deployment(ws.store.deployments(limit=1)[0])


def _rollback_goal(
    entries: list[dict[str, Any]], current: dict[str, Any], kind: str, deployment_id: int | None
) -> dict[str, Any]:
    same = [e for e in entries if e["data"].get("target") == kind and e["action"] == "deploy"]
    if deployment_id is not None:
        goal = next((e for e in same if e["id"] == deployment_id), None)
        if goal is None:
            raise DeployError(f"no {kind} deployment with id {deployment_id}; {uris.DEPLOYMENTS} lists them")
        return goal
    # The deployment in service: a rollback serves the one it went back to.
    served = current["data"].get("rolled_back_to") or current["id"]
    older = [e for e in same if e["id"] < served]
    if not older:
        raise DeployError(f"no {kind} deployment older than #{served} ({current['data'].get('model')}) to roll back to")
    return older[0]


def stop_local(ws: Workspace, actor: str = "cli") -> Deployment:
    """Stop the repository's local llama.cpp server; logged, so nothing is counted as served afterwards."""

    current = current_deployment(ws, "llama_cpp")
    if current is None:
        raise DeployError("no model is being served by the local llama.cpp server")
    llama_server.stop(current["data"].get("pid"))
    data = {k: current["data"].get(k) for k in ("model", "digest", "gguf", "url")}
    ws.store.append_deployment(
        "stop",
        data | {"target": "llama_cpp", "actor": actor},
        run_id=current["run_id"],
        git_commit=current["git_commit"],
    )
    return as_deployment(ws.store.deployments(limit=1)[0])
