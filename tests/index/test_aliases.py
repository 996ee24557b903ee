"""Plain words for conventional names, and the index picking them up (also in an index built before them)."""

from __future__ import annotations

from forge_mcp.core.workspace import Workspace
from forge_mcp.index.aliases import document_text, symbol_words
from forge_mcp.index.rag import TEXT_VERSION, TEXT_VERSION_KEY, RagIndex


def test_symbol_words_by_language() -> None:
    assert "length" in symbol_words("Cart.__len__", "python")
    assert "get item" in symbol_words("Message.__getitem__", "python")
    assert "constructor" in symbol_words("Parser.__init__", "python")
    assert "constructor" in symbol_words("Parser.initialize", "ruby")
    assert "constructor" in symbol_words("Parser.constructor", "typescript")
    assert symbol_words("Parser.initialize", "python") == ""
    assert symbol_words("Cart.total_price", "python") == symbol_words("", "go") == ""


def test_document_text_adds_the_words_to_the_header() -> None:
    row = {
        "symbol": "Cart.__len__",
        "language": "python",
        "header": "# shop/cart.py / Cart.__len__",
        "text": "def __len__(self):\n    return len(self.items)\n",
    }
    assert document_text(row).startswith("# shop/cart.py / Cart.__len__ (length number of items")
    assert document_text(row | {"symbol": "Cart.size"}) == f"{row['header']}\n{row['text']}"


class Recording:
    """The real embedder, remembering what it was asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.texts = inner, inner.name, []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return self.inner.embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def test_prose_finds_a_dunder_method_and_old_indexes_are_upgraded(search_repo, minilm) -> None:
    search_repo.commit(
        "len",
        {
            "shop/basket.py": "class Basket:\n    def __len__(self):\n        return len(self.things)\n\n"
            "    def weight(self):\n        return sum(self.things)\n"
        },
    )
    ws = Workspace.open(search_repo.path)
    first = Recording(minilm)
    index = RagIndex(ws, embedder=first)
    index.sync()
    assert any("(length number of items" in t for t in first.texts)
    hits = index.search("number of items in the basket", k=1, mode="lexical")
    assert hits[0].symbol == "Basket.__len__"
    assert ws.store.get_meta(TEXT_VERSION_KEY) == str(TEXT_VERSION)

    ws.store.set_meta(TEXT_VERSION_KEY, "1")  # as an older forge-mcp left it: vectors of plain headers
    again = Recording(minilm)
    report = RagIndex(ws, embedder=again).sync(["shop/cart.py"])
    assert report.chunks_embedded == 1 and again.texts[0].startswith("# shop/basket.py / Basket.__len__ (")
    assert ws.store.get_meta(TEXT_VERSION_KEY) == str(TEXT_VERSION)
    assert RagIndex(ws, embedder=again).sync().chunks_embedded == 0  # once only
