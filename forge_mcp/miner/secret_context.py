"""Secrets found by their context rather than their format: a value under a secret-named key, credentials in a URL,
an `Authorization` header, a password on a command line, a default passed to an environment lookup, a password
quoted in documentation prose.

Provider tokens (`ghp_...`, `AKIA...`) are secret_rules.py's job; this module covers what a format rule cannot see,
where the value may read like words (`DB_PASSWORD = "sunflower-meadow"`). Each detector is a regex pass that starts
with a literal (so `re` can skip ahead fast) and runs only when a needle occurs, plus the checks in secret_values.py.
A finding is (start, end, kind): the span to replace.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from urllib.parse import unquote

from forge_mcp.miner.secret_values import STRONG, is_placeholder, looks_random, name_strength, secret_value, words

Span = tuple[int, int, str]
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_QUOTES = "\"'`"
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")
_VALUE = (
    r"(?P<q2>``)(?P<qv2>[^`\r\n]+)``"  # reST inline literal
    r"|(?:[bru]{0,2}|f)(?P<q>[\"'`])(?P<qv>(?:(?!(?P=q))[^\\\r\n]|\\.)*)(?P=q)"  # a quoted literal
    # or a bare value that `&x=` or `;` ends (`# comment` has a space after the `#`)
    r"|(?P<bv>#?[^\s\"'`,;&(){}\[\]<>#](?:[^\s\"'`,;&(){}\[\]<>]|&(?!\w+=))*)"
)
# Runs on lowercased text (a literal-alternation scan is ~4x faster than (?i)); values are read back from the original.
# The anchor is a secret word inside the name; the name's start is found by walking back from it.
ANCHORS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "pw")  # words a secret name contains
# Lowercase needles that gate the passes below; the prefilter reports them with the rule keywords in one scan.
NEEDLES = ("bearer", "authorization", "curl", "mysql", "mariadb", "sshpass", "login", "--", "</", "env", "auth")
_ASSIGNMENT = re.compile(
    r"(?:pass|pwd|secret|token|key|auth|cred|pw(?![a-z]))[a-z0-9_\-.]*(?P<key_end>)(?P<close>[\"'`\]]{0,2})\??"
    r"(?:(?P<op>(?:[ \t]*:[ \t]*[a-z_][\w.\[\] |]*?)?[ \t]*(?::=|=>|\?\?=|\|\|=|\?=|=(?!=)|:-|:(?![:=?\-])))"
    r"|(?P<fallback>[ \t]*(?:\|\||\?\?|\bor\b))|(?P<comma>[ \t]*,[ \t]*(?:default[ \t]*=[ \t]*)?)"
    r"|(?P<call>\()|(?P<xml>[ \t]+value[ \t]*=)"
    r"|(?P<prose>[ \t]+(?:is|was|to|of|set[ \t]+to)(?=[ \t]+[`\"'])|(?=[ \t]+`)))"  # "the password is `x`"
    r"[ \t]*(?:" + _VALUE + ")"
)
_SETTER_WORDS = frozenset({"set", "with", "use"})
_BUILDER_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pwd", "secret", "token", "api", "client", "access", "private", "auth", "db"}
)
_PROSE_QUALIFIERS = frozenset({"api", "access", "secret", "private", "auth", "client", "bearer", "bot", "deploy"})

# `scheme://user:password@host`; the user may be a template (`{user}`), the password must be a literal.
_URL_PASSWORD = re.compile(r"://([^\s:/@'\"<>]*):(?P<pw>[^\s:/@'\"<>]+)@")
# On lowered text: `Authorization: Bearer x`, `"Authorization", "Basic x"`; and a bare `Bearer x` anywhere.
_AUTH_HEADER = re.compile(
    r"authorization\b[\"'`]?[ \t]*[:=,][ \t]*[\"'`]?[ \t]*(?:bearer|basic|token|bot|apikey|digest)"
    r"[ \t]+(?P<v>[a-z0-9\-._~+/=:%]{8,})"
)
_BEARER = re.compile(r"bearer[ \t]+(?P<v>[a-z0-9\-._~+/=]{16,})")
_CURL = re.compile(
    r"curl\b(?:[^\n]|\\\n)*?[ \t](?:-u|--user)(?:[ \t]+|=)(?P<q>[\"']?)[^\s:\"']*:(?P<v>[^\s\"']+)(?P=q)"
)
_LOGIN = re.compile(r"login\b[^\n]*?[ \t](?:-p|--password)(?:[ \t]+|=)(?P<q>[\"']?)(?P<v>[^\s\"']+)(?P=q)")
_LOGIN_TOOLS = ("docker", "podman", "nerdctl", "buildah", "skopeo", "oras", "registry")
_MYSQL = re.compile(r"(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?[ \t]-p(?P<v>[^\s\"']+)")
_SSHPASS = re.compile(r"sshpass[ \t]+-p[ \t]*(?P<q>[\"']?)(?P<v>[^\s\"']+)(?P=q)")
_LONG_OPTION = re.compile(r"--(?P<opt>[a-z][\w-]*)(?P<eq>=|[ \t]+)(?P<q>[\"']?)(?P<v>[^\s\"'=-][^\s\"']*)(?P=q)")
_DOCKER_ENV = re.compile(
    r"(?<![^\n \t])ENV[ \t]+(?P<name>[A-Za-z_]\w*)[ \t]+(?P<q>[\"']?)(?P<v>[^\s\"'=][^\s\"']*)(?P=q)"
    r"[ \t]*$",
    re.M,
)  # `ENV NAME value`, the Dockerfile form without `=`
# `auth=("user", "pw")` (requests), `HTTPBasicAuth("user", "pw")`; each pattern starts with a literal for speed.
_USER_PASSWORD_ARGS = r"\([ \t]*[\"'][^\"'\n]*[\"'][ \t]*,[ \t]*(?P<q>[\"'])(?P<v>[^\"'\n]+)(?P=q)"
_AUTH_TUPLE = re.compile(r"auth[ \t]*=[ \t]*" + _USER_PASSWORD_ARGS)
_AUTH_CALL = re.compile(r"Auth(?<=asicAuth|gestAuth)[ \t]*" + _USER_PASSWORD_ARGS)  # Basic, Digest
_XML_ELEMENT = re.compile(r"<(?P<name>[\w.:-]+)>(?P<v>[^<>\s]{4,})</(?P=name)>")


def _name_start(text: str, end: int) -> int:
    start = end
    while start > 0 and text[start - 1] in _IDENT_CHARS:
        start -= 1
    return start


def _setter(name: str) -> bool:
    """`setPassword("x")`, `withPassword("x")`, a builder's `.password("x")`; not `check_password("x")`,
    `passValue("x")`."""
    first = words(name.rsplit(".", 1)[-1])[:1]
    return bool(first) and (first[0] in _SETTER_WORDS or "." in name and first[0] in _BUILDER_WORDS)


def _listed(text: str, end: int) -> bool:
    """The quoted value is followed by another list item or the list's end: `["pass", "else", "yield"]`."""
    rest = text[end + 1 : end + 80].lstrip()
    return rest[:1] == "]" or rest[:1] == "," and rest[1:].lstrip()[:1] in _QUOTES


def _name(m: re.Match[str], text: str) -> tuple[int, str]:
    start = _name_start(text, m.start())
    name = text[start : m.start("key_end")].lstrip(".-")
    if m.start("prose") >= 0 and words(name) in (["key"], ["token"], ["secret"]):
        before = text[max(0, start - 12) : start]  # prose writes "API key", "access token"
        prev = before.rstrip().rsplit(None, 1)[-1:] if before.endswith(" ") else []
        if prev and prev[0].lower().strip("`'\"") in _PROSE_QUALIFIERS:
            name = prev[0].strip("`'\"") + "_" + name
    return start, name


def _assignment_span(m: re.Match[str], text: str) -> tuple[int, int] | None:
    """The value's span for `secret_name <op> literal`, or None when the name is not secret or the value is code."""
    start, name = _name(m, text)
    strength = name_strength(name)
    g = next(g for g in ("qv2", "qv", "bv") if m.start(g) >= 0)
    quoted = g != "bv"
    name_quoted = text[start - 1 : start] in _QUOTES and m.group("close")[:1] in _QUOTES
    if (
        not strength
        or text[start - 2 : start] == "::"
        or text[start - 1 : start] in ("/", "\\")
        or (m.start("op") < 0 and not quoted)
    ):
        return None  # `Foo::ApiKey` is a type, `/etc/passwd` a path; `a || b`, `f("k", pw)` are code
    if words(name) == ["pass"] and text[:start].rstrip(" \t\"'`")[-1:] not in ("", "\n", "{", ",", "("):
        return None  # "pass" alone names a password in a mapping (`{user: u, pass: "x"}`), not in "First pass: ..."
    if (m.start("comma") >= 0 or m.start("xml") >= 0) and not name_quoted:
        return None
    if m.start("comma") >= 0 and (text[: start - 1].rstrip()[-1:] != "(" or _listed(text, m.end(g))):
        return None  # only a call's first argument: `getenv("API_KEY", "dev-key")`, not `["pass", "else"]`
    if m.start("prose") >= 0 and (words(name) in (["pass"], ["pw"], ["pwd"]) or name.endswith(".")):
        return None  # English: "never pass `force=true`", "... a secret. `Next` sentence"
    if m.start("call") >= 0 and not _setter(name):
        return None
    value = text[m.start(g) : m.end(g)] if quoted else text[m.start(g) : m.end(g)].rstrip(".:")  # m ran on lowered text
    if not quoted:
        if name_quoted and m.group("op").strip() == ":":
            return None  # `{"pass": ok}`: after a quoted key (JSON, a dict literal) a bare value is a variable
        after = text[m.start(g) + len(value) : m.start(g) + len(value) + 2]
        prose = m.group("op").strip() == ":" and after[:1] in " \t" and after[1:].isalpha()
        if after[:1] in ("(", "[", ".") or after[:1] == "<" and after != "</" or prose:
            return None  # a call or attribute (`tok.strip()`), or prose: `password: the password of the user`
    if not secret_value(value, name, strength, quoted):
        return None
    return m.start(g), m.start(g) + len(value)


def _candidates(
    pattern: re.Pattern[str], haystack: str, anchors: list[int] | None
) -> Generator[re.Match[str], int, None]:
    """Matches of the assignment pattern from each position the caller asks for next (via send)."""
    pos = 0
    if anchors is None:  # let `re` find the anchor words
        while (m := pattern.search(haystack, pos)) is not None:
            pos = yield m
        return
    for a in anchors:  # the pattern starts with an anchor word, so it can only match where one starts
        if a >= pos and (m := pattern.match(haystack, a)) is not None:
            pos = yield m


def assignments(text: str, lowered: str, anchors: list[int] | None = None) -> list[Span]:
    """`anchors`: where ANCHORS start in `lowered` (secret_prefilter.hits), else the regex searches for them."""
    spans: list[Span] = []
    same = len(lowered) == len(text)  # "İ".lower() is two code points: then offsets would drift, match on text
    pattern, haystack = (_ASSIGNMENT, lowered) if same else (re.compile(_ASSIGNMENT.pattern, re.I), text)
    found = _candidates(pattern, haystack, anchors if same else None)
    m = next(found, None)
    while m is not None:
        span = _assignment_span(m, text)
        if span is None:
            pos = m.start("key_end") + 1  # the value may hold another name: `x = process.env.API_KEY || "..."`
        else:
            name = text[_name_start(text, m.start()) : m.start("key_end")].lower()
            kind = (
                "aws_secret_key"
                if "aws" in name and "secret" in name and _AWS_SECRET.fullmatch(text[span[0] : span[1]])
                else "generic_secret"
            )
            spans.append((*span, kind))
            pos = m.end()
        try:
            m = found.send(pos)
        except StopIteration:
            m = None
    return spans


def url_passwords(text: str) -> list[Span]:
    if "://" not in text:
        return []
    spans: list[Span] = []
    for m in _URL_PASSWORD.finditer(text):
        pw = m.group("pw")
        if is_placeholder(unquote(pw)) or any(c in pw for c in "{}[]$*"):
            continue  # `:TOKEN@`, `:<password>@`, `:{password}@`, `:${DB_PASSWORD}@`; `P%40ss` is a password
        if pw.isalpha() and pw.islower() and len(pw) <= 8 or pw.lower() in ("password", "pass", "pwd"):
            continue  # `git://org:repo@` is a path; `user:password@` a placeholder
        spans.append((m.start("pw"), m.end("pw"), "url_password"))
    return spans


def auth_headers(text: str, lowered: str) -> list[Span]:
    """Header values: with the header name any literal counts; a bare `Bearer x` must look like key material."""
    if len(lowered) != len(text):
        return []
    spans: list[Span] = []
    found = [(m, True) for m in _AUTH_HEADER.finditer(lowered)] if "authorization" in lowered else []
    found += [(m, False) for m in _BEARER.finditer(lowered)]
    for m, with_header in found:
        value = text[m.start("v") : m.end("v")]
        if is_placeholder(value) or value.isupper() or value.lower() in ("token", "credentials"):
            continue  # `Bearer YOUR_TOKEN`, `Bearer <token>`
        if with_header or looks_random(value) or any(c.isdigit() for c in value) and not value.isdigit():
            spans.append((m.start("v"), m.end("v"), "auth_header"))
    return spans


def _option(m: re.Match[str], text: str) -> bool:
    """`--password=x` / `--db-password x`; with a space, a plain word is prose ("the --password option")."""
    if text[m.start() - 1 : m.start()] not in ("", " ", "\t", "\n", '"', "'", "=", "("):
        return False
    value = m.group("v")
    if name_strength(m.group("opt")) != STRONG or m.group("eq") != "=" and value.isalpha():
        return False
    return secret_value(value, m.group("opt"), STRONG, quoted=True)


def cli_passwords(text: str, present: set[str]) -> list[Span]:
    spans: list[Span] = []
    passes: list[tuple[re.Pattern[str], str]] = [
        (_CURL, "curl"),
        (_MYSQL, "mysql"),
        (_MYSQL, "mariadb"),
        (_SSHPASS, "sshpass"),
        (_LOGIN, "login"),
        (_LONG_OPTION, "--"),
    ]
    for pattern, needle in passes:
        if needle not in present:
            continue
        for m in pattern.finditer(text):
            value = m.group("v")
            if pattern is _LOGIN and not text[max(0, m.start() - 30) : m.start()].rstrip().endswith(_LOGIN_TOOLS):
                continue
            if pattern is _LONG_OPTION and not _option(m, text):
                continue
            if len(value) < 3 or is_placeholder(value) or value.startswith(("$", "<", "{")):
                continue
            spans.append((m.start("v"), m.end("v"), "cli_password"))
    return spans


def _named(pattern: re.Pattern[str], text: str, name_group: str | None = "name") -> list[Span]:
    """Spans of group "v" where the name group is secret-named (no name group: the call itself says password)."""
    spans: list[Span] = []
    for m in pattern.finditer(text):
        name = m.group(name_group) if name_group else "password"
        strength = name_strength(name)
        if strength and secret_value(m.group("v"), name, strength, quoted=True):
            spans.append((m.start("v"), m.end("v"), "generic_secret"))
    return spans


def find(text: str, lowered: str, anchors: list[int] | None = None, present: set[str] | None = None) -> list[Span]:
    """Every context finding but URL passwords (their own, higher-priority pass), unordered: the caller resolves
    overlaps. `anchors`: see assignments; `present`: which NEEDLES occur in `lowered`, when the caller knows."""
    if present is None:
        present = {n for n in NEEDLES if n in lowered}
    spans = assignments(text, lowered, anchors) + cli_passwords(text, present)
    if "bearer" in present or "authorization" in present:
        spans += auth_headers(text, lowered)
    if "env" in present and "ENV" in text:
        spans += _named(_DOCKER_ENV, text)
    if "auth" in present:
        spans += _named(_AUTH_TUPLE, text, None) + _named(_AUTH_CALL, text, None)
    if "</" in present:
        spans += _named(_XML_ELEMENT, text)
    return spans
