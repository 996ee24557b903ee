"""The vendored gitleaks rules: every one compiles in Python, the RE2 translation, the fast forms' equivalence, the
gitleaks semantics (keywords, entropy, secretGroup, allowlists, path scoping), and the prefilter as a pure speed-up.

Fake tokens are generated at run time (seeded) so this file holds nothing a scanner would flag.
"""

from __future__ import annotations

import dataclasses
import random
import re
import string
import warnings

import pytest

from forge_mcp.miner import secret_prefilter, secret_rules, secrets
from forge_mcp.miner.secret_rules import RULE_FILES, RULES_DIR, SKIP_RULES, compile_go, load_config, translate

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def fake(n: int, alphabet: str = ALNUM, seed: int = 0) -> str:
    return "".join(random.Random(f"{seed}:{n}:{alphabet}").choices(alphabet, k=n))


def raw_rules() -> list[dict[str, object]]:
    return [r for name in RULE_FILES for r in load_config(RULES_DIR / name).get("rules", [])]


def test_every_vendored_rule_compiles_without_warnings() -> None:
    raw = raw_rules()
    assert len(raw) > 200  # gitleaks publishes ~220
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. FutureWarning for a nested set in a class
        for rule in raw:
            for pattern in [rule.get("regex"), rule.get("path")] + [
                p for a in rule.get("allowlists", []) for p in a.get("regexes", []) + a.get("paths", [])
            ]:
                if pattern:
                    compile_go(str(pattern))
        for name in RULE_FILES:
            allowlist = load_config(RULES_DIR / name).get("allowlist", {})
            for pattern in allowlist.get("regexes", []) + allowlist.get("paths", []):
                compile_go(pattern)
    loaded = secret_rules.ruleset().rules
    assert len(loaded) == sum(1 for r in raw if "regex" in r and r["id"] not in SKIP_RULES)
    assert SKIP_RULES <= {r["id"] for r in raw}  # a skip list that names no rule is stale
    assert all(p.regex.groups >= r.secret_group for r in loaded for p in r.patterns)


@pytest.mark.parametrize(
    ("go", "python"),
    [
        (r"(?:\s|\z)", r"(?:\s|\Z)"),
        (r"\b(pat[[:alnum:]]{14})\b", r"\b(pat[a-zA-Z0-9]{14})\b"),
        (r"^/Users/(?i)[a-z0-9]+/x$", r"^/Users/(?i:[a-z0-9]+/x\Z)"),
        (r"a(?i)b|c", r"a(?i:b)|(?i:c)"),
        (r"(?i)^true|false$", r"(?i)^true|false\Z"),
        (r"(?<name>x)", r"(?P<name>x)"),
        (r"[^]x]", r"[^\]x]"),
        (r"(?-i:[Aa]pi|API)", r"(?-i:[Aa]pi|API)"),
    ],
)
def test_translate_go_syntax(go: str, python: str) -> None:
    assert translate(go) == python
    re.compile(python)


def test_mid_pattern_flags_apply_to_the_rest_of_their_group() -> None:
    pattern = compile_go(r"\b((?:sc|ext)_(?i)[a-z0-9]{5}\.(?-i:acc))")
    assert pattern.search("ext_AbCdE.acc") and not pattern.search("ext_AbCdE.ACC")


# Lines that match rules of every shape fast_form rewrites: the vendor-context form (lazy prefix stripped, matches
# tried only where the vendor name occurs), a leading \b (checked by hand) and a split leading alternation.
VENDOR_LINES = [
    f'OKTA_TOKEN = "00{fake(40, ALNUM + "_-", seed=1)}"',
    f"etsy_api_key: {fake(24, string.ascii_lowercase + string.digits, seed=2)}",
    f'lob_key = "live_{fake(35, HEX, seed=3)}"',
    f"LINEAR_CLIENT_SECRET={fake(32, HEX, seed=4)}",
    f'sumo_access_id = "su{fake(12, seed=5)}"',
    f'vault_token = "s.{fake(24, seed=6)}"',
    f'VAULT = "hvs.{fake(95, seed=7)}"',
    f"flyio: fo1_{fake(43, seed=8)}",
    f'stripe = "sk_live_{fake(24, seed=9)}"',
    f"x = AKIA{fake(16, string.ascii_uppercase + '234567', seed=10)}",
    f'twitter_bearer = "{"A" * 22}{fake(90, seed=11)}"',
    f"JIRA_API_TOKEN={fake(20, string.ascii_lowercase + string.digits, seed=13)}{fake(4, HEX, seed=14)}",
    f"not_a_vault = xs.{fake(24, seed=12)}",  # no \b before "s.": no match
]


def test_fast_forms_find_what_the_original_patterns_find() -> None:
    text = "\n".join(VENDOR_LINES) + "\n" + "\n".join(f"{w} = thing  # {w}.x" for w in secret_rules.ruleset().leading)
    lowered = text.lower()
    hits = secret_prefilter.hits(lowered)
    originals = {r["id"]: r["regex"] for r in raw_rules() if "regex" in r}
    rules = secret_rules.ruleset()
    changed = 0
    for rule in rules.rules:
        whole = secret_rules.Pattern(compile_go(str(originals[rule.id])))
        reference = dataclasses.replace(rule, patterns=(whole,))
        expected = {(f.start, f.end) for f in secret_rules._findings(reference, text, rules.allowlists, None)}
        got = {
            (f.start, f.end)
            for f in secret_rules._findings(
                rule, text, rules.allowlists, None, hits and hits.present, hits and hits.positions
            )
        }
        assert got >= expected, rule.id  # split alternations may add overlapping matches, never lose one
        changed += [p.regex.pattern for p in rule.patterns] != [whole.regex.pattern]
    assert changed > 100  # the rewrites are in use
    found = {f.rule for f in secret_rules.scan(text, lowered, None, hits and hits.present, hits and hits.positions)}
    assert {
        "okta-access-token",
        "etsy-access-token",
        "lob-api-key",
        "linear-client-secret",
        "sumologic-access-id",
        "vault-service-token",
        "flyio-access-token",
        "stripe-access-token",
        "aws-access-token",
        "twitter-bearer-token",
        "atlassian-api-token",
    } <= found


def test_gitleaks_semantics_entropy_allowlists_secret_group() -> None:
    rules = secret_rules.ruleset()
    example = "AKIA" + "IOSFODNN7" + "EXAMPLE"  # the rule's allowlist: `.+EXAMPLE$`
    assert not secret_rules.scan(f"k = {example}\n", f"k = {example}\n".lower())
    low_entropy = "sk_live_" + "a" * 24  # stripe's entropy floor is 2
    assert not [f for f in secret_rules.scan(low_entropy, low_entropy) if f.rule == "stripe-access-token"]
    sonar = "sonar.login=" + fake(40, string.ascii_lowercase + string.digits, seed=13)
    finding = next(f for f in secret_rules.scan(sonar, sonar.lower()) if f.rule == "sonar-api-token")
    assert sonar[finding.start : finding.end] == sonar.split("=", 1)[1]  # secretGroup = 2, not the key
    assert rules.allowlists and rules.allowlists[0].regex is not None  # the global allowlist is loaded


def test_path_scoped_rules_run_only_with_a_matching_path() -> None:
    text = '<add key="Password" value="' + fake(12, seed=14) + '" />\n'
    assert not [f for f in secret_rules.scan(text, text.lower()) if f.rule == "nuget-config-password"]
    scoped = secret_rules.scan(text, text.lower(), path="src/NuGet.Config")
    assert [f for f in scoped if f.rule == "nuget-config-password"]


def test_prefilter_is_only_a_speed_up(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = VENDOR_LINES + [
        f'password = "{fake(14, seed=15)}"',
        "api_key = 'x'",
        f"token: ghp_{fake(36, seed=16)}",
        "curl -u admin:" + fake(12, seed=17) + " https://ci",
        "İSTANBUL = 1",
    ]
    texts = ["\n".join(lines), "\n".join(reversed(lines)), "plain text without anything\n"]
    fast = [secrets.find_secrets(t) for t in texts]
    monkeypatch.setattr(secret_prefilter, "_automata", lambda: None)
    assert secret_prefilter.hits("x") is None
    assert [secrets.find_secrets(t) for t in texts] == fast
    assert any(fast)
