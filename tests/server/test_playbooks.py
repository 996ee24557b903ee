import re
from pathlib import Path

import pytest
from mcp import Client

from forge_mcp.core.errors import ConfigError
from forge_mcp.server.app import build_server
from forge_mcp.server.playbooks import load_playbooks, parse_playbook
from forge_mcp.server.services import Forge

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_prompts_parse_and_render() -> None:
    books = {b.name: b for b in load_playbooks()}
    assert {"what_changed", "repo_guardian", "why_validation_failed"} <= set(books)
    text = books["what_changed"].render({"since": "v1.2"})
    assert '{"since": "v1.2"}' in text and "{{" not in text
    guardian = books["repo_guardian"].render({"base_model": "mlx-community/Qwen2.5-Coder-1.5B-Instruct-4bit"})
    assert "Base model: mlx-community/Qwen2.5-Coder-1.5B-Instruct-4bit" in guardian and "target: auto" in guardian
    assert "Deploy only on a pass" in guardian and "{{" not in guardian
    why = books["why_validation_failed"].render({"report_id": "report-1"})
    assert "forge://reports/report-1/json" in why


def test_bad_arguments_and_bad_files(tmp_path: Path) -> None:
    book = load_playbooks()[0]
    with pytest.raises(ConfigError, match="has no argument"):
        book.render({"nope": "x"})
    bad = tmp_path / "bad.md"
    bad.write_text("no front matter")
    with pytest.raises(ConfigError, match="front matter"):
        parse_playbook(bad)
    bad.write_text('+++\nname = "x"\ndescription = "d"\n+++\nuses {{missing}}\n')
    with pytest.raises(ConfigError, match="placeholders without an argument"):
        parse_playbook(bad)
    bad.write_text('+++\nname = "Bad Name"\ndescription = "d"\n+++\nbody\n')
    with pytest.raises(ConfigError, match="lower_snake_case"):
        parse_playbook(bad)


def test_required_argument_is_enforced(tmp_path: Path) -> None:
    (tmp_path / "p.md").write_text(
        '+++\nname = "p"\ndescription = "d"\n[[arguments]]\nname = "run_id"\ndescription = "the run"\n'
        "required = true\n+++\nrun {{run_id}}\n"
    )
    book = load_playbooks(tmp_path)[0]
    assert book.render({"run_id": "r1"}) == "run r1\n"
    with pytest.raises(ConfigError, match="needs the argument 'run_id'"):
        book.render({})


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_prompts_over_mcp(repo, mode: str) -> None:
    from mcp.shared.exceptions import MCPError

    async with Client(build_server(Forge([repo.path]), watch=False), mode=mode) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert [a.name for a in prompts["what_changed"].arguments or []] == ["repo", "since"]
        result = await client.get_prompt("what_changed", {"repo": "src"})
        assert '{"repo": "src"}' in result.messages[0].content.text
        with pytest.raises(MCPError, match="has no argument"):
            await client.get_prompt("what_changed", {"bogus": "1"})


def _front_matter(text: str) -> dict[str, str]:
    match = re.match(r"\A---\n(.*?)\n---\n", text, re.S)
    assert match, "SKILL.md starts with YAML front matter"
    return dict(line.split(": ", 1) for line in match.group(1).splitlines())


@pytest.mark.anyio
async def test_skills_parse_and_name_only_real_tools(repo) -> None:
    async with Client(build_server(Forge([repo.path]), watch=False)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        prompts = {p.name for p in (await client.list_prompts()).prompts}
    skills = sorted((ROOT / "skills").glob("*/SKILL.md"))
    assert skills
    for skill in skills:
        text = skill.read_text()
        meta = _front_matter(text)
        assert meta["name"] == skill.parent.name and len(meta["description"]) > 40
        table_tools = re.findall(r"^\| `([a-z_]+)` \|", text, re.M)
        assert table_tools and set(table_tools) <= tools
        for name in re.findall(r"^- `([a-z_]+)` \(", text, re.M):
            assert name in prompts
