"""Tokens for lexical search over code: identifiers split on camelCase and snake_case, whole kept too.

`parseHTTPResponse_v2` -> parsehttpresponse_v2, parse, http, response, v2. Measured on a real repository,
BM25 over these tokens fused with dense retrieval beats either alone.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b|_)|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were will with "
    "self def return none true false if else elif import".split()
)


def stem(token: str) -> str:
    """A light suffix stemmer so "parses", "parsing", "parsed" and "parse" meet (queries are prose)."""
    if len(token) <= 3:
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3 and not token.endswith("ss"):
            token = token[: -len(suffix)]
            break
    return token[:-1] if token.endswith("e") and len(token) > 3 else token


def code_tokens(text: str) -> list[str]:
    """Lower-cased, stemmed tokens: each identifier whole (when compound) and its parts; stopwords dropped."""
    return [stem(t) for t in _raw_tokens(text)]


def _raw_tokens(text: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text):
        lower = word.lower()
        parts = [p.lower() for p in _PARTS.findall(word)]
        if len(parts) > 1 or "_" in word:
            out.append(lower.strip("_"))
        out.extend(p for p in parts if p not in STOPWORDS and len(p) > 1)
        if len(parts) == 1 and lower not in STOPWORDS and len(lower) > 1 and not parts[0] == lower:
            out.append(lower)
    return [t for t in out if t]
