"""Provider-token detection driven by gitleaks' published rule set (vendored in `rules/gitleaks.toml`).

A maintained rule set beats a hand-written list: gitleaks tracks ~220 token formats and their allowlists.
This module loads it with tomllib, translates the Go RE2 syntax Python's `re` lacks, and applies each rule the
way gitleaks' detector does: a lowercase keyword prefilter, the secret group, the entropy floor, and the global
and per-rule allowlists (regexes on the secret, the match or the line; stopwords; AND conditions with paths).
Rules listed in `rules/extra.toml` (same format) cover formats the published rules are stricter about.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

RULES_DIR = Path(__file__).with_name("rules")
RULE_FILES = ("gitleaks.toml", "extra.toml")
# Rules left out, and why: the keyword/assignment detector in secrets.py covers secret-named keys with placeholder
# and code checks gitleaks lacks (measured in bench/secrets.py); curl-auth-* are replaced by header/`-u` detectors
# that also see them outside curl; path-only rules are secret_file_reason's job.
SKIP_RULES = frozenset({"generic-api-key", "curl-auth-header", "curl-auth-user", "pkcs12-file"})
# Rule ids mapped to the short kinds the redactor has always reported (anything else: the id with "_" for "-").
_KIND_PREFIXES = (
    ("aws-access-token", "aws_access_key"),
    ("github-", "github_token"),
    ("gitlab-", "gitlab_token"),
    ("slack-webhook", "slack_webhook"),
    ("slack-", "slack_token"),
    ("stripe-", "stripe_key"),
    ("gcp-api-key", "google_api_key"),
    ("openai-", "openai_key"),
    ("anthropic-", "anthropic_key"),
    ("jwt", "jwt"),
    ("private-key", "private_key"),
    ("huggingface-", "huggingface_token"),
)


@dataclass(frozen=True)
class Allowlist:
    target: str  # "secret", "match" or "line": what the regexes are searched in
    regex: re.Pattern[str] | None
    stopwords: tuple[str, ...]
    paths: re.Pattern[str] | None
    all_of: bool  # condition = "AND": every check present must pass

    def allows(self, secret: str, match: str, line: str, path: str | None) -> bool:
        subject = {"match": match, "line": line}.get(self.target, secret)
        checks: list[bool] = []
        if self.paths is not None:  # with OR, gitleaks skips a matching path before scanning: the same outcome
            checks.append(path is not None and self.paths.search(path) is not None)
        if self.regex is not None:
            checks.append(bool(subject) and self.regex.search(subject) is not None)
        if self.stopwords:
            low = secret.lower()
            checks.append(any(word in low for word in self.stopwords))
        return (all(checks) if self.all_of else any(checks)) and bool(checks)


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    boundary: bool = False  # a leading \b that fast_form took off, checked by hand so `re` can skip ahead
    leading: tuple[str, ...] = ()  # lowercase literals one of which each match starts with (see _leading_literals)


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    patterns: tuple[Pattern, ...]  # the rule's regex as fast forms: a match of any of them is a match of the rule
    keywords: tuple[str, ...]
    entropy: float
    secret_group: int
    path: re.Pattern[str] | None
    allowlists: tuple[Allowlist, ...]


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    kind: str
    rule: str


# ---------------------------------------------------------------- Go RE2 -> Python re

_POSIX = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "xdigit": "0-9a-fA-F",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r"\t\n\v\f\r ",
    "word": r"\w",
    "punct": r"!-/:-@\[-`{-~",
    "blank": r" \t",
}
_CLASS_ESCAPE = frozenset("[&|~")  # Python warns on "[" (nested sets) and doubled &, |, ~ inside a class


def _class(pattern: str, i: int) -> tuple[str, int]:
    """The character class starting at pattern[i] == "[" in Python syntax, and the index after it."""
    out = ["[^" if pattern.startswith("[^", i) else "["]
    i += len(out[0])
    if pattern.startswith("]", i):  # a leading "]" is a literal in both dialects
        out.append("\\]")
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        posix = re.match(r"\[:(\w+):\]", pattern[i:])
        if pattern[i] == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif posix:
            out.append(_POSIX[posix.group(1)])
            i += posix.end()
        else:
            out.append("\\" + pattern[i] if pattern[i] in _CLASS_ESCAPE else pattern[i])
            i += 1
    return "".join(out) + "]", i + 1


def translate(pattern: str) -> str:
    """Go RE2 syntax to Python `re`: `\\z`, POSIX classes, `(?<name>`, `$` and inline flags after the start.

    Go applies a mid-pattern `(?i)` to the rest of its group, across `|`; Python only accepts scoped flags there,
    so the rest of each branch is wrapped in `(?i:...)` (closed before a `|` or the group's `)`, reopened after `|`)."""
    out: list[str] = []
    open_flags: list[str | None] = [None]  # per group depth: the inline flags a `(?flags:` wraps till the group ends
    i = 0
    while i < len(pattern):
        c = pattern[i]
        flags = re.match(r"\(\?([imsU]+)\)", pattern[i:]) if c == "(" else None
        named = re.match(r"\(\?<(\w+)>", pattern[i:]) if c == "(" else None
        step = 1
        if c == "\\":
            out.append(r"\Z" if pattern[i + 1 : i + 2] == "z" else pattern[i : i + 2])
            step = 2
        elif c == "[":
            text, end = _class(pattern, i)
            out.append(text)
            step = end - i
        elif flags and (i > 0 or len(open_flags) > 1):
            out.append((")" if open_flags[-1] else "") + f"(?{flags.group(1)}:")  # a second one replaces the first
            open_flags[-1] = flags.group(1)
            step = flags.end()
        elif c == "(":
            out.append(f"(?P<{named.group(1)}>" if named else c)
            step = named.end() if named else 1
            open_flags.append(None)
        elif c == ")":
            out.append("))" if open_flags.pop() else ")")
        elif c == "|" and open_flags[-1]:
            out.append(f")|(?{open_flags[-1]}:")
        else:
            out.append(r"\Z" if c == "$" else c)  # Go's `$` without (?m) is the end of the text only
        i += step
    return "".join(out) + (")" if open_flags[-1] else "")


def compile_go(pattern: str) -> re.Pattern[str]:
    # Go's \w, \d, \s and \b are ASCII-only.
    return re.compile(translate(pattern), re.ASCII)


# ---------------------------------------------------------------- loading


def _allowlist(raw: dict[str, Any]) -> Allowlist:
    regexes = raw.get("regexes") or []
    paths = raw.get("paths") or []
    return Allowlist(
        target=raw.get("regexTarget", "secret"),
        regex=compile_go("|".join(f"(?:{translate(r)})" for r in regexes)) if regexes else None,
        stopwords=tuple(sorted({w.lower() for w in raw.get("stopwords") or []})),
        paths=compile_go("|".join(f"(?:{translate(p)})" for p in paths)) if paths else None,
        all_of=str(raw.get("condition", "OR")).upper() == "AND",
    )


def _kind(rule_id: str) -> str:
    return next((kind for prefix, kind in _KIND_PREFIXES if rule_id.startswith(prefix)), rule_id.replace("-", "_"))


_LAZY_PREFIX = r"[\w.-]{0,50}?"


def _structure(pattern: str) -> Iterator[tuple[int, str, int]]:
    """(index, char, depth before it) of each `(`, `)` and `|` outside character classes and escapes."""
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1 if pattern.startswith("[^]", i) or pattern.startswith("[]", i) else 0
        elif c in "()|":
            yield i, c, depth
            depth += {"(": 1, ")": -1, "|": 0}[c]
        i += 1


def _top_level_alternation(pattern: str) -> bool:
    return any(c == "|" and depth == 0 for _, c, depth in _structure(pattern))


def _split_top_level(body: str) -> list[str]:
    cuts = [i for i, c, depth in _structure(body) if c == "|" and depth == 0]
    return [body[a + 1 : b] for a, b in zip([-1, *cuts], [*cuts, len(body)], strict=False)]


def _split_leading_alternation(body: str) -> list[str]:
    """`((?:A|B))REST` -> `(A)REST`, `(B)REST`: each then starts with a literal `re` can search for fast (vault's
    `s.` alternative scanned 5x faster alone)."""
    if not body.startswith("((?:"):
        return [body]
    marks = list(_structure(body))
    close = next((i for i, c, depth in marks if c == ")" and depth == 2), None)
    if close is None or body[close + 1 : close + 2] != ")":
        return [body]
    cuts = [i for i, c, depth in marks if c == "|" and depth == 2 and i < close]
    bounds = [4, *[c + 1 for c in cuts], close + 1]
    return [f"({body[bounds[k] : bounds[k + 1] - 1]}){body[close + 2 :]}" for k in range(len(bounds) - 1)]


def fast_form(pattern: str, strip_prefix: bool, split: bool = True) -> list[tuple[str, bool]]:
    r"""Patterns whose matches together hold every match of a Go pattern, in forms Python's `re` scans fast, each
    with whether a leading `` was taken off (to be checked by hand, see _matches).

    `re` only skips ahead to a literal or a character set at the start of a pattern. 101 gitleaks rules start with
    a lazy `[\w.-]{0,50}?` (it only widens the match leftwards, never changes the secret group) and many with ``;
    left alone, those rules tried every position and ran at ~10 MB/s. Top-level alternatives and a leading
    alternation inside the first group become patterns of their own (the union of their matches may add overlapping
    ones, never lose one). `split=False` (a rule with a secretGroup: splitting would renumber the groups) keeps
    one pattern, whole when it has a top-level `|` (there the prefix could change which branch wins)."""
    flags = re.match(r"\(\?[a-zA-Z]+\)", pattern)
    head, body = (flags.group(0), pattern[flags.end() :]) if flags else ("", pattern)
    branches = _split_top_level(body)
    if len(branches) > 1 and not split:
        return [(pattern, False)]
    out: list[tuple[str, bool]] = []
    for branch in branches:
        if strip_prefix:
            while branch.startswith(_LAZY_PREFIX):
                branch = branch[len(_LAZY_PREFIX) :]
            if branch.startswith("(?i:" + _LAZY_PREFIX):
                branch = "(?i:" + branch[len("(?i:" + _LAZY_PREFIX) :]
        boundary = branch.startswith(r"\b")
        branch = branch[2:] if boundary else branch
        out += [(head + part, boundary) for part in (_split_leading_alternation(branch) if split else [branch])]
    return out


# The vendor-context form (101 rules): `(?i)(?:okta|...)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|...` after fast_form.
_VENDOR_HEAD = re.compile(
    r"(?:\(\?i\))?(?:\(\?i:)?\(\?:(?P<alts>[^()]*|\(\?-i:[^()]*\))\)\(\?:\[ \\t\\w\.-\]\{0,20\}\)"
)
_CASE_PAIR = re.compile(r"\[([A-Za-z])([A-Za-z])\]")


def _leading_literals(pattern: str) -> tuple[str, ...]:
    """For the vendor-context form, the vendor names a match must start with, lowercased (else ())."""
    head = _VENDOR_HEAD.match(pattern)
    if head is None:
        return ()
    alts = head.group("alts").removeprefix("(?-i:").removesuffix(")")
    alts = _CASE_PAIR.sub(lambda m: m.group(1).lower() if m.group(1).lower() == m.group(2).lower() else "?", alts)
    out = tuple(sorted({a.replace("\\.", ".").lower() for a in alts.split("|")}))
    return out if all(re.fullmatch(r"[a-z0-9_.-]+", a) for a in out) else ()


def _rule(raw: dict[str, Any]) -> Rule:
    lists = [_allowlist(a) for a in raw.get("allowlists", [])]
    if "allowlist" in raw:  # the pre-v8.21 spelling
        lists.append(_allowlist(raw["allowlist"]))
    forms = fast_form(
        raw["regex"], strip_prefix=all(a.target != "match" for a in lists), split=not int(raw.get("secretGroup", 0))
    )
    patterns = tuple(
        Pattern(compile_go(p), boundary, _leading_literals(p) if p != raw["regex"] else ()) for p, boundary in forms
    )
    return Rule(
        id=raw["id"],
        kind=raw.get("kind") or _kind(raw["id"]),
        patterns=patterns,
        keywords=tuple(k.lower() for k in raw.get("keywords", [])),
        entropy=float(raw.get("entropy", 0)),
        secret_group=int(raw.get("secretGroup", 0)),
        path=compile_go(raw["path"]) if raw.get("path") else None,
        allowlists=tuple(lists),
    )


def load_config(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    allowlists: tuple[Allowlist, ...]  # the global ones
    keywords: tuple[str, ...]  # every rule's keywords, deduplicated, for a one-pass prefilter (secret_prefilter.py)
    by_keyword: dict[str, tuple[int, ...]]  # keyword -> indexes of the rules it enables
    always: tuple[int, ...]  # rules without keywords
    leading: tuple[str, ...]  # every rule's leading literals: the prefilter reports where they occur


@cache
def ruleset() -> RuleSet:
    """All content rules (vendored gitleaks + extras, minus SKIP_RULES) and the global allowlists, compiled once."""
    out: list[Rule] = []
    global_lists: list[Allowlist] = []
    for name in RULE_FILES:
        config = load_config(RULES_DIR / name)
        global_lists += [_allowlist(a) for a in config.get("allowlists", [])]
        if "allowlist" in config:
            global_lists.append(_allowlist(config["allowlist"]))
        out += [_rule(r) for r in config.get("rules", []) if "regex" in r and r["id"] not in SKIP_RULES]
    by_keyword: dict[str, list[int]] = {}
    for i, rule in enumerate(out):
        for k in rule.keywords:
            by_keyword.setdefault(k, []).append(i)
    return RuleSet(
        tuple(out),
        tuple(global_lists),
        tuple(sorted(by_keyword)),
        {k: tuple(v) for k, v in by_keyword.items()},
        tuple(i for i, r in enumerate(out) if not r.keywords),
        tuple(sorted({w for r in out for p in r.patterns for w in p.leading})),
    )


# ---------------------------------------------------------------- scanning


def entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


def _secret_span(m: re.Match[str], rule: Rule) -> tuple[int, int]:
    if m.re.groups:
        if rule.secret_group:
            return m.span(rule.secret_group)
        for g in range(1, m.re.groups + 1):  # gitleaks: the first non-empty group
            if m.start(g) >= 0 and m.end(g) > m.start(g):
                return m.span(g)
    start, end = m.span()  # gitleaks trims newlines off a whole-match secret
    matched = m.group(0)
    return start + len(matched) - len(matched.lstrip("\n")), end - len(matched) + len(matched.rstrip("\n"))


def _line(text: str, start: int, end: int) -> str:
    return text[text.rfind("\n", 0, start) + 1 : (text.find("\n", end) + 1 or len(text) + 1) - 1]


def _allowed(lists: tuple[Allowlist, ...], secret: str, match: str, line: str, path: str | None) -> bool:
    return any(a.allows(secret, match, line, path) for a in lists)


def _word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _matches(pattern: Pattern, text: str, starts: list[int] | None) -> Iterator[re.Match[str]]:
    """The pattern's matches in the text, with the `\b` that fast_form took off its start checked here.

    `starts`: where its leading literals occur, when the caller knows; then the pattern is only tried there (a match
    can start nowhere else), instead of `re` testing every position."""
    regex, boundary = pattern.regex, pattern.boundary
    if starts is not None:
        candidates: Iterator[re.Match[str] | None] = (regex.match(text, p) for p in starts)
    elif boundary:
        candidates = _searches(regex, text)
    else:
        yield from regex.finditer(text)
        return
    end = 0
    for m in candidates:
        p = m.start() if m is not None else -1
        if m is not None and p >= end and (not boundary or _word(text[p - 1 : p]) != _word(text[p : p + 1])):
            yield m
            end = max(m.end(), p + 1)


def _searches(regex: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Every position's leftmost match, one position after the last (the caller filters by `\b` and overlap)."""
    pos = 0
    while (m := regex.search(text, pos)) is not None:
        yield m
        pos = m.start() + 1


def _findings(
    rule: Rule,
    text: str,
    global_lists: tuple[Allowlist, ...],
    path: str | None,
    present: set[str] | None = None,
    positions: dict[str, list[int]] | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    for pattern in rule.patterns:
        if pattern.leading and present is not None and present.isdisjoint(pattern.leading):
            continue  # the vendor name every match starts with is absent
        starts = (
            None
            if positions is None or present is None or not pattern.leading
            else sorted(p for w in pattern.leading if w in present for p in positions.get(w, ()))
        )
        for m in _matches(pattern, text, starts):
            start, end = _secret_span(m, rule)
            secret = text[start:end]
            if not secret or (rule.entropy and entropy(secret) <= rule.entropy):
                continue
            match, line = m.group(0).strip("\n"), _line(text, m.start(), m.end())
            if _allowed(global_lists, secret, match, line, path) or _allowed(
                rule.allowlists, secret, match, line, path
            ):
                continue
            findings.append(Finding(start, end, rule.kind, rule.id))
    return findings


def scan(
    text: str,
    lowered: str,
    path: str | None = None,
    present: set[str] | None = None,
    positions: dict[str, list[int]] | None = None,
) -> list[Finding]:
    """Findings of every rule whose keywords occur in `lowered` (text.lower()) and that survive gitleaks' entropy
    and allowlist checks, in rule order. `present`: the keywords and leading literals known to occur (else each is
    searched for); `positions`: where the leading literals start. Path-scoped rules run only when `path` is given."""
    rules = ruleset()
    if present is None:
        present = {k for k in rules.keywords + rules.leading if k in lowered}
        positions = None
    chosen = set(rules.always).union(*(rules.by_keyword[k] for k in present if k in rules.by_keyword))
    findings: list[Finding] = []
    for i in sorted(chosen):
        rule = rules.rules[i]
        if rule.path is None or path is not None and rule.path.search(path) is not None:
            findings += _findings(rule, text, rules.allowlists, path, present, positions)
    return findings
