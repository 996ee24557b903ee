from forge_mcp.miner.docs import chunk_doc

MD = """Intro before any heading.

# Guide

Some text.

```python
# a comment, not a heading
```

## Install

pip install forge-mcp

### From source

make run
"""

RST = """=======
 Title
=======

Text.

Usage
-----

More.
"""


def test_markdown_sections_and_code_fences() -> None:
    chunks = chunk_doc("docs/guide.md", MD.encode(), "markdown")
    assert "".join(c.text for c in chunks) == MD
    assert [c.symbol for c in chunks] == ["", "Guide", "Guide > Install", "Guide > Install > From source"]
    assert "# a comment, not a heading" in chunks[1].text
    assert chunks[2].header == "docs/guide.md / Guide > Install" and chunks[2].start_line == 11


def test_rst_sections() -> None:
    chunks = chunk_doc("README.rst", RST.encode(), "rst")
    assert "".join(c.text for c in chunks) == RST
    assert [c.symbol for c in chunks] == ["Title", "Title > Usage"]


def test_long_section_splits_at_paragraphs() -> None:
    text = "# Long\n\n" + "\n\n".join("word " * 60 for _ in range(20)) + "\n"
    chunks = chunk_doc("long.md", text.encode(), "markdown", budget=600)
    assert "".join(c.text for c in chunks) == text
    assert len(chunks) > 3 and all(c.symbol == "Long" for c in chunks)
    assert [c.part for c in chunks] == list(range(1, len(chunks) + 1))
