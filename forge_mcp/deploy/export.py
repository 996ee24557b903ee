"""A run made servable: fused into its base, exported to GGUF, verified against mlx in llama.cpp.

Artefacts live in `<state>/exports/<run_id>/` (fused/, model-<type>.gguf, parity.json, export.json with
the resolved config) and are reused while their inputs are unchanged. A failed parity check blocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_mcp.core.errors import DeployError
from forge_mcp.core.fsutil import atomic_write_json
from forge_mcp.core.workspace import Workspace
from forge_mcp.deploy.fuse import fuse_run
from forge_mcp.deploy.gguf_export import export_gguf, quantize_q4_k_m
from forge_mcp.deploy.verify import verify_gguf
from forge_mcp.judge.models import ModelRef


@dataclass(frozen=True)
class Exported:
    gguf: Path
    fused: Path
    chat_template: str | None
    parity_summary: dict[str, Any]


def export_run(ws: Workspace, model: ModelRef, report: Callable[[int, int, str], None]) -> Exported:

    cfg = ws.config.deploy
    folder = ws.export_dir(model.run_id or model.name)
    fused, gguf = folder / "fused", folder / f"model-{cfg.outtype}.gguf"
    key = {
        "model": model.model_path,
        "adapter": model.adapter_path,
        "outtype": cfg.outtype,
        "min_agreement": cfg.min_agreement,
        "quantize": cfg.quantize,
    }
    cached = _cached(folder, key)
    if cached is None:
        report(1, 5, "fusing the adapter into the base")
        fuse_run(Path(model.model_path), Path(model.adapter_path) if model.adapter_path else None, fused)
        report(2, 5, f"exporting GGUF ({cfg.outtype})")
        info = export_gguf(fused, gguf, cfg.outtype)
        report(3, 5, "verifying in llama.cpp against mlx")
        parity = verify_gguf(gguf, fused, threshold=cfg.min_agreement)
        atomic_write_json(folder / "parity.json", parity.model_dump(mode="json"))
        if not parity.ok:
            raise DeployError(
                f"the GGUF failed its llama.cpp check, so it is not deployed: {_why(parity)} "
                f"(details: {folder / 'parity.json'})"
            )
        summary = {
            "ok": True,
            "outtype": parity.outtype,
            "token_agreement": parity.token_agreement,
            "tokenizer_match": parity.tokenizer_match,
            "exact": parity.exact,
            "sha256": info.sha256,
        }
        if cfg.quantize == "q4_k_m":
            summary["q4_k_m"] = str(quantize_q4_k_m(gguf, folder / "model-q4_k_m.gguf").path)
        stat = gguf.stat()  # reuse only the very file that was verified
        atomic_write_json(
            folder / "export.json",
            {
                "key": key,
                "parity": summary,
                "file": [stat.st_size, stat.st_mtime_ns],
                "config": json.loads(ws.config.to_json()),
            },
        )
        cached = summary
    return Exported(gguf=gguf, fused=fused, chat_template=_chat_template(fused), parity_summary=cached)


def _cached(folder: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    path = folder / "export.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    gguf = folder / f"model-{key['outtype']}.gguf"
    if data.get("key") != key or not gguf.is_file():
        return None
    stat = gguf.stat()
    return data["parity"] if data.get("file") == [stat.st_size, stat.st_mtime_ns] else None


def _why(parity: Any) -> str:
    if parity.error:
        return parity.error.strip().splitlines()[-1][:300]
    if not parity.tokenizer_match:
        return "llama.cpp tokenizes differently from the model's tokenizer"
    return f"greedy tokens agree on {parity.token_agreement:.0%} of positions (needs {parity.threshold:.0%}" + (
        ", exact for f32)" if parity.outtype == "f32" else ")"
    )


def _chat_template(fused: Path) -> str | None:
    config = fused / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(template, str):
            return template
    jinja = fused / "chat_template.jinja"
    return jinja.read_text(encoding="utf-8") if jinja.is_file() else None
