"""One pass over a text that finds every rule keyword it contains and where the secret-name anchors start.

gitleaks gates each of its ~220 rules on lowercase keywords; testing ~240 keywords with `in` costs ~240 scans of the
text (~7 MB/s). An Aho-Corasick DFA finds them all in one scan (~200-300 MB/s), and the same pass yields the
positions of the assignment detector's anchor words, so that detector can try its regex only there instead of
letting `re` test every position. The automaton comes from the optional `ahocorasick_rs` package (a declared
dependency with wheels for the usual platforms); without it `hits` returns None and the detectors fall back to
`in` tests and regex search, with the same results.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from forge_mcp.miner import secret_rules
from forge_mcp.miner.secret_context import ANCHORS, NEEDLES


@dataclass(frozen=True)
class Hits:
    present: set[str]  # rule keywords, leading literals and secret_context.NEEDLES that occur
    anchors: list[int]  # sorted start offsets of ANCHORS in the lowered text (character offsets)
    positions: dict[str, list[int]]  # sorted start offsets of each rule's leading literals that occur


@dataclass(frozen=True)
class _Automata:
    words: tuple[str, ...]
    anchor_ids: frozenset[int]
    leading_ids: frozenset[int]
    ascii: Any  # BytesAhoCorasick: faster; its byte offsets are character offsets for ASCII text
    unicode: Any  # AhoCorasick over str, for the rest


@cache
def _automata() -> _Automata | None:
    try:
        import ahocorasick_rs
    except ImportError:
        return None
    rules = secret_rules.ruleset()
    words = tuple(sorted(set(rules.keywords) | set(rules.leading) | set(ANCHORS) | set(NEEDLES)))
    matchkind, implementation = ahocorasick_rs.MatchKind.Standard, ahocorasick_rs.Implementation.DFA
    return _Automata(
        words,
        frozenset(i for i, w in enumerate(words) if w in ANCHORS),
        frozenset(i for i, w in enumerate(words) if w in rules.leading),
        ahocorasick_rs.BytesAhoCorasick(
            [w.encode() for w in words], matchkind=matchkind, implementation=implementation
        ),
        ahocorasick_rs.AhoCorasick(list(words), matchkind=matchkind, implementation=implementation),
    )


def available() -> bool:
    return _automata() is not None


def hits(lowered: str) -> Hits | None:
    """The keywords and anchor positions in `lowered` (text.lower()), or None without the accelerator."""
    automata = _automata()
    if automata is None:
        return None
    if lowered.isascii():
        matches = automata.ascii.find_matches_as_indexes(lowered.encode("ascii"), overlapping=True)
    else:
        matches = automata.unicode.find_matches_as_indexes(lowered, overlapping=True)
    words, anchor_ids = automata.words, automata.anchor_ids
    present = {words[i] for i, _, _ in matches}
    anchors = sorted({start for i, start, _ in matches if i in anchor_ids})
    positions: dict[str, list[int]] = {}
    for i, start, _ in matches:
        if i in automata.leading_ids:
            positions.setdefault(words[i], []).append(start)
    return Hits(present, anchors, {w: sorted(p) for w, p in positions.items()})
