"""miner.secret_context: secrets found by context (assignments, URLs, headers, command lines, env, XML)."""

from __future__ import annotations

import random
import string

import pytest

from forge_mcp.miner import secret_context, secret_prefilter
from forge_mcp.miner.secret_context import assignments, auth_headers, cli_passwords, find, url_passwords

B64 = string.ascii_letters + string.digits + "/+"
PW = "S3cr" + "3tPw9"  # assembled so that this file does not look like it leaks a password


def found(text: str) -> list[tuple[str, str]]:
    return sorted({(text[s:e], kind) for s, e, kind in find(text, text.lower())})


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ('DB_PASSWORD = "sunflower-meadow"\n', "sunflower-meadow", "generic_secret"),
        ("the password is `hunter2zq`\n", "hunter2zq", "generic_secret"),
        ('headers = {"Authorization": "Bearer abcDEF123456ghiJKL"}\n', "abcDEF123456ghiJKL", "auth_header"),
        (f"curl -u admin:{PW} https://ci\n", PW, "cli_password"),
        (f"mysql -uroot -p{PW} db\n", PW, "cli_password"),
        (f"sshpass -p {PW} ssh host\n", PW, "cli_password"),
        (f"docker login -p {PW} registry\n", PW, "cli_password"),
        (f"ENV DB_PASSWORD {PW}\n", PW, "generic_secret"),
        (f'requests.get(u, auth=("me", "{PW}"))\n', PW, "generic_secret"),
        (f"<password>{PW}</password>\n", PW, "generic_secret"),
    ],
)
def test_each_detector_finds_its_value(text: str, value: str, kind: str) -> None:
    assert (value, kind) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "x = first_pass(tree)\n",
        'x = ["pass", "else", "yield"]\n',
        "Authorization: Bearer YOUR_TOKEN\n",
        "password = getpass_input\n",
        "cache_key = 'abc123xyz99'\n",
        "curl -u admin:$PASS https://ci\n",
        "echo login -p " + PW + "\n",  # not a registry login tool
        "see the --password option\n",
        'getenv("API_KEY", "dev8key9zz")\n',  # the default repeats the name: a label
    ],
)
def test_ordinary_text_has_no_findings(text: str) -> None:
    assert found(text) == []


def test_spans_point_at_the_value_in_the_original_text() -> None:
    text = 'settings:\n  DB_PASSWORD: "Sunflower-Meadow"\n'
    [(start, end, kind)] = assignments(text, text.lower())
    assert text[start:end] == "Sunflower-Meadow" and kind == "generic_secret"


def test_an_aws_secret_under_an_aws_name_is_named_as_such() -> None:
    value = "".join(random.Random(5).choices(B64, k=40))
    text = f'aws_secret_access_key = "{value}"\n'
    assert found(text) == [(value, "aws_secret_key")]


def test_text_whose_lowercase_changes_length_still_matches() -> None:
    text = 'İ = 1\nDB_PASSWORD = "sunflower-meadow"\n'
    assert len(text.lower()) != len(text)
    assert [text[s:e] for s, e, _ in assignments(text, text.lower())] == ["sunflower-meadow"]


def test_anchors_from_the_prefilter_give_the_same_assignments() -> None:
    text = 'a = 1\nDB_PASSWORD = "sunflower-meadow"\nx = process.env.API_KEY || "' + PW + 'zz"\nauth_token = 3\n'
    lowered = text.lower()
    hits = secret_prefilter.hits(lowered)
    if hits is None:
        pytest.skip("ahocorasick_rs is not installed")
    assert assignments(text, lowered, hits.anchors) == assignments(text, lowered)
    assert len(assignments(text, lowered)) == 2
    assert find(text, lowered, hits.anchors, hits.present & set(secret_context.NEEDLES)) == find(text, lowered)


def test_url_passwords() -> None:
    text = 'a = "postgres://admin:Zq8vR1pLx@db.local/app"\n'
    assert [(text[s:e], k) for s, e, k in url_passwords(text)] == [("Zq8vR1pLx", "url_password")]
    for text in (
        "postgres://user:{password}@db/app",
        "postgres://user:${DB_PASSWORD}@db/app",
        "postgres://user:<password>@db/app",
        "postgres://user:password@db/app",
        "git://org:repo@host/x",
        "no url here",
    ):
        assert url_passwords(text) == []
    url = "postgres://admin:Zq8vR1pLx@db.local/app"
    assert all(kind != "url_password" for _, _, kind in find(url, url.lower()))  # URLs have their own pass


def test_bare_bearer_needs_key_material() -> None:
    assert auth_headers("Bearer abcdefghijklmnopqr", "bearer abcdefghijklmnopqr") == []
    text = "Bearer abcdefgh1jklmnopqr"
    assert [(text[s:e], k) for s, e, k in auth_headers(text, text.lower())] == [("abcdefgh1jklmnopqr", "auth_header")]


def test_cli_passes_run_only_when_their_needle_is_present() -> None:
    text = f"curl -u admin:{PW} https://ci\n"
    assert cli_passwords(text, set()) == []
    assert [text[s:e] for s, e, _ in cli_passwords(text, {"curl"})] == [PW]


def test_long_options() -> None:
    text = f"run --db-password={PW}\n"
    assert (PW, "cli_password") in found(text)
    assert found("run --db-password placeholder_value\n") == []
    assert found("run --verbose=abc123xyz\n") == []
