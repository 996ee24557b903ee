"""index/pairs.py: the (query, document) pairs mined from real chunks, hard negatives and the pairs' digest."""

from __future__ import annotations

from forge_mcp.index.pairs import MAX_QUERY_CHARS, first_sentence, pairs_digest, pairs_from_chunks, with_hard_negatives
from forge_mcp.miner.chunker import chunk_code
from forge_mcp.miner.docs import chunk_doc

PY = b'''def parse_invoice(text):
    """Parse the invoice text into lines. More detail follows here."""
    return text.splitlines()


def tiny():
    """Tiny."""
    return 1


class HttpClientPool:
    """A pool of reusable clients.

    Longer text.
    """

    def get(self):
        return None
'''
JS = b"function formatPrice(cents) {\n  // format a price in cents as dollars\n  return cents / 100;\n}\n"
MD = b"# Guide\n\nIntro.\n\n## Paying with cards\n\nCards are charged through the gateway.\n\n## Empty\n"


def test_first_sentence() -> None:
    assert first_sentence("Parse  the\n invoice. Then more.") == "Parse the invoice."
    assert first_sentence("no full stop here") == "no full stop here"
    assert len(first_sentence("word " * 200)) == MAX_QUERY_CHARS


def test_docstrings_give_queries_for_the_code_without_them() -> None:
    pairs = pairs_from_chunks(chunk_code("app/inv.py", PY, "python"))
    assert [(p.symbol, p.source) for p in pairs] == [("parse_invoice", "docstring"), ("HttpClientPool", "docstring")]
    parse = pairs[0]
    assert parse.query == "Parse the invoice text into lines." and parse.path == "app/inv.py"
    assert "def parse_invoice(text):" in parse.document and "return text.splitlines()" in parse.document
    assert "Parse the invoice" not in parse.document and "More detail" not in parse.document
    assert pairs[1].query == "A pool of reusable clients." and "Longer text" not in pairs[1].document
    assert parse.negative is None


def test_a_leading_comment_and_a_heading_give_queries() -> None:
    (js,) = pairs_from_chunks(chunk_code("web/a.js", JS, "javascript"))
    assert (js.symbol, js.source, js.query) == ("formatPrice", "comment", "format a price in cents as dollars")
    (md,) = pairs_from_chunks(chunk_doc("docs/guide.md", MD, "markdown"))  # one-word and empty sections give none
    assert (md.symbol, md.source, md.query) == ("Guide > Paying with cards", "heading", "Paying with cards")
    assert "Cards are charged through the gateway." in md.document and "## Paying" not in md.document


def test_a_leading_comment_gives_a_query_in_python_too() -> None:
    # tree-sitter's Python block starts at the first statement: the comment falls inside the signature's span
    src = b"def total(items):\n    # add up every item price in the list\n    return sum(items)\n"
    assert [p.source for p in pairs_from_chunks(chunk_code("app/t.py", src, "python"))] == ["comment"]


def test_signatures_are_opt_in() -> None:
    src = b"def compute_total_price(items):\n    return sum(items)\n"
    assert pairs_from_chunks(chunk_code("app/p.py", src, "python")) == []
    (pair,) = pairs_from_chunks(chunk_code("app/p.py", src, "python"), signatures=True)
    assert (pair.source, pair.query) == ("signature", "compute total price")


def test_hard_negatives_are_the_best_other_unit_and_the_digest_follows_the_pairs() -> None:
    pairs = pairs_from_chunks(chunk_code("app/inv.py", PY, "python"))
    documents = {(p.path, p.symbol): p.document for p in pairs}

    def search(query: str, n: int) -> list[tuple[str, str]]:  # a ranking: the pair's own unit, then an unknown one
        own = next(p for p in pairs if p.query == query)
        others = [key for key in documents if key != (own.path, own.symbol)]
        return [(own.path, own.symbol), ("elsewhere.py", "gone"), *others][:n]

    mined = with_hard_negatives(pairs, search, documents)
    assert mined[0].negative == pairs[1].document and mined[1].negative == pairs[0].document
    assert with_hard_negatives(pairs, lambda q, n: [], documents)[0].negative is None
    assert pairs_digest(pairs) == pairs_digest(list(pairs)) != pairs_digest(mined)
    assert pairs_digest(pairs) != pairs_digest(pairs[:1])
