"""The loop's CLI commands through main(): index, search, cycle, deploy, deployments, rollback and stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge_mcp.cli.main import main
from forge_mcp.deploy import llama_server
from tests.conftest import GitRepo
from tests.cycle.test_run import project, small_cycle_env


def test_index_then_search_human_and_json(make_repo, capsys) -> None:
    repo: GitRepo = make_repo("cli-search")
    repo.commit(
        "code",
        {
            "shop/payment.py": 'def charge_credit_card(card_number, amount):\n    """Charge a credit card."""\n'
            "    return gateway.charge(card_number, amount)\n",
            "shop/cart.py": 'def add_item(cart, sku):\n    """Add a product to the cart."""\n    cart.append(sku)\n',
            "docs/README.md": "# Shop\n\nCards are charged through the gateway.\n",
        },
    )
    assert main(["index", "--repo", str(repo.path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 files, ") and "chunks indexed with minilm" in out and "STILL UNREACHABLE" not in out
    assert main(["index", "--repo", str(repo.path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files_indexed"] == 3 and report["files_changed"] == 0 and report["chunks_embedded"] == 0
    assert main(["search", "charge a credit card", "--repo", str(repo.path), "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(" 1. shop/payment.py:1-3  charge_credit_card  [function, ")
    assert main(["search", "cart", "--repo", str(repo.path), "--mode", "lexical", "--path", "shop/*", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and {h["path"] for h in hits} <= {"shop/payment.py", "shop/cart.py"} and hits[0]["lexical_rank"] == 1
    assert main(["search", "  ", "--repo", str(repo.path)]) == 2
    assert "forge-mcp: error: " in capsys.readouterr().err


def test_cycle_deploy_deployments_rollback_stop(tmp_path: Path, monkeypatch, capsys) -> None:
    pytest.importorskip("llama_cpp")
    port = small_cycle_env(monkeypatch)
    repo = project(tmp_path / "cli-loop")
    where = ["--repo", str(repo.path)]
    try:
        assert main(["cycle", *where, "--no-index", "--no-deploy", "--iters", "4"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("cycle cycle-") and ": completed in " in out and "[--] deploy" in out
        assert "[ok] train" in out and "validation report: " in out and "not deployed: " in out
        assert main(["deploy", *where, "--target", "llama_cpp"]) == 2  # the tiny model fails validation
        assert "failed validation" in capsys.readouterr().err
        assert main(["deploy", *where, "--target", "llama_cpp", "--force", "--json"]) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["forced"] and first["url"] == f"http://127.0.0.1:{port}/v1"
        assert first["actor"].startswith("cli user") and first["target"] == "llama_cpp"
        assert main(["deploy", *where, "--target", "llama_cpp", "--force"]) == 0
        line = capsys.readouterr().out
        assert line.startswith(f"#{first['id'] + 1} ") and " deploy " in line and "validation FAILED [FORCED]" in line
        assert main(["deployments", *where, "--json"]) == 0
        entries = json.loads(capsys.readouterr().out)
        assert [e["action"] for e in entries] == ["deploy", "deploy"] and entries[1]["id"] == first["id"]
        assert main(["rollback", *where, "--target", "llama_cpp"]) == 0
        assert f", back to #{first['id']}, by cli user" in capsys.readouterr().out
        assert llama_server.chat_check(port)["usage"]["completion_tokens"] > 0
        assert main(["deployments", *where]) == 0
        listed = capsys.readouterr().out.splitlines()
        assert len(listed) == 3 and " rollback " in listed[0]
        assert main(["stop", *where]) == 0
        assert " stop " in capsys.readouterr().out
        assert main(["stop", *where]) == 2
        assert "no model is being served" in capsys.readouterr().err
    finally:
        main(["deployments", *where, "--json"])
        for entry in json.loads(capsys.readouterr().out or "[]"):
            if entry.get("pid"):
                llama_server.stop(entry["pid"])
