"""index/lexical.py: BM25 over identifier-split tokens, names weighted, filters by allowed ids."""

from __future__ import annotations

from forge_mcp.index.lexical import LexicalIndex, document_tokens

ROWS = {
    "pay": {
        "path": "shop/payment.py",
        "symbol": "charge_credit_card",
        "language": "python",
        "text": "def charge_credit_card(card_number, amount):\n    return gateway.charge(card_number, amount)\n",
    },
    "cart": {
        "path": "shop/cart.py",
        "symbol": "Cart.add_item",
        "language": "python",
        "text": "def add_item(self, sku):\n    self.items.append(sku)\n",
    },
    "web": {
        "path": "web/render.ts",
        "symbol": "renderInvoice",
        "language": "typescript",
        "text": "export function renderInvoice(invoice: Invoice): string {\n  return invoice.id;\n}\n",
    },
}


def test_document_tokens_split_identifiers_and_count_the_name_twice() -> None:
    tokens = document_tokens(ROWS["web"])
    assert {"render", "invoic", "renderinvoic"} <= set(tokens)  # split, lowercased and stemmed
    assert tokens.count("render") > document_tokens({**ROWS["web"], "symbol": "x", "path": "a.ts"}).count("render")


def test_search_ranks_by_bm25_and_respects_allowed() -> None:
    index = LexicalIndex.build({cid: document_tokens(row) for cid, row in ROWS.items()})
    hits = index.search("credit card charge", 10)
    assert hits[0][0] == "pay" and all(score > 0 for _, score in hits) and "web" not in dict(hits)
    assert index.search("renderInvoice", 1)[0][0] == "web"  # camelCase in the query splits too
    assert index.search("add item", 10, allowed={"pay", "web"}) == []
    assert index.search("add item", 10, allowed=set()) == []
    assert index.search("zebra quokka", 10) == []  # no known term
    assert [cid for cid, _ in index.search("item card invoice", 2)] and len(index.search("item card invoice", 2)) <= 2


def test_an_empty_index_finds_nothing() -> None:
    empty = LexicalIndex.build({})
    assert empty.ids == [] and empty.search("anything", 5) == []
