"""miner.secret_prefilter: one Aho-Corasick pass gives the same keywords and anchor offsets as naive scans."""

from __future__ import annotations

import pytest

from forge_mcp.miner import secret_prefilter, secret_rules
from forge_mcp.miner.secret_context import ANCHORS, NEEDLES

pytestmark = pytest.mark.skipif(not secret_prefilter.available(), reason="ahocorasick_rs is not installed")

TEXTS = [
    "",
    "plain text without anything\n",
    'DB_PASSWORD = "x"\napi_key = token\n',
    "curl -u admin:pw https://ci --password=x bearer authorization env </a>\n",
    "keykeykey passpass pwd\n",  # overlapping and repeated words
    "ünïcode İ pass key secret\n",  # not ASCII: character offsets, not byte offsets
]


def starts(text: str, word: str) -> list[int]:
    return [i for i in range(len(text)) if text.startswith(word, i)]


@pytest.mark.parametrize("text", TEXTS)
def test_hits_match_naive_scans(text: str) -> None:
    lowered = text.lower()
    rules = secret_rules.ruleset()
    words = set(rules.keywords) | set(rules.leading) | set(ANCHORS) | set(NEEDLES)
    hits = secret_prefilter.hits(lowered)
    assert hits is not None
    assert hits.present == {w for w in words if w in lowered}
    assert hits.anchors == sorted({i for a in ANCHORS for i in starts(lowered, a)})
    assert hits.positions == {w: starts(lowered, w) for w in set(rules.leading) if w in lowered}


def test_anchor_offsets_index_the_lowered_text() -> None:
    lowered = "ünïcode = 1\nmy_token = 2\n".lower()
    hits = secret_prefilter.hits(lowered)
    assert hits is not None
    assert [lowered[i : i + 5] for i in hits.anchors] == ["token"]


def test_leading_literal_positions() -> None:
    leading = secret_rules.ruleset().leading[0]
    lowered = f"x {leading} y {leading}\n"
    hits = secret_prefilter.hits(lowered)
    assert hits is not None
    assert hits.positions[leading] == [2, 2 + len(leading) + 3]
    assert leading in hits.present
