from forge_mcp.core.workspace import Workspace
from forge_mcp.miner.mine import mine
from tests.conftest import PLANTED


def test_mine_counts_skips_and_redacts(code_repo) -> None:
    result = mine(Workspace.open(code_repo.path))
    stats = result.stats
    assert stats.skipped == {
        "binary": 1,
        "generated": 3,
        "huge": 1,
        "minified": 1,
        "secret": 2,
        "unsupported file type": 1,
        "vendored": 1,
    }
    assert "big/huge.py" in stats.skipped_examples["huge"]
    assert {"python", "javascript", "go", "markdown"} <= set(stats.chunks_by_language)
    symbols = {c.qualname for c in result.chunks}
    assert {"app/core.py::Engine.start", "web/app.js::formatPrice", "server/main.go::Serve"} <= symbols
    assert all(c.commit == result.commit for c in result.chunks)
    assert sum(stats.secrets_redacted.values()) >= 3
    text = "\n".join(c.text for c in result.chunks)
    for secret in PLANTED:
        assert secret not in text
    assert "<REDACTED:" in text


def test_rechunking_reuses_and_reparses_only_changed_files(code_repo) -> None:
    ws = Workspace.open(code_repo.path)
    first = mine(ws)
    assert first.stats.files_parsed == first.stats.files_chunked > 0
    again = mine(ws)
    assert again.stats.files_parsed == 0 and again.stats.files_reused == first.stats.files_chunked
    assert [c.id for c in again.chunks] == [c.id for c in first.chunks]
    code_repo.commit("edit one", {"app/util.py": "def slugify(text):\n    return text\n"})
    third = mine(ws)
    assert third.stats.files_parsed == 1
    assert "app/util.py::clamp" not in {c.qualname for c in third.chunks}
