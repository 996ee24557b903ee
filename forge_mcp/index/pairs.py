"""Training pairs for adapting the embedder to one repository, mined from the repository itself.

A pair is (query, document): what a person would ask, and the text the index embeds for the unit that
answers it. Queries come from
- a unit's docstring: its first sentence (the document is the unit without its docstring, so the model
  learns to match prose to code rather than prose to the same prose);
- a comment leading a unit's body, when the unit has no docstring;
- optionally the unit's identifier-split signature (off by default: it did not help, bench/README.md);
- a Markdown or reST section heading, for the section's body.

Hard negatives are the current index's near misses: the best-ranked other unit for the pair's query.
No heavy imports here: the worker does the training.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from forge_mcp.index.aliases import document_text
from forge_mcp.miner.chunker import Chunk

Source = Literal["docstring", "comment", "signature", "heading"]
CODE_KINDS = frozenset({"function", "method", "class", "type"})
MIN_QUERY_WORDS = 3
MAX_QUERY_CHARS = 300
_COMMENT = re.compile(r"^\s*(?:#|//|--|;)\s?(.*\S)\s*$")


@dataclass(frozen=True)
class Pair:
    query: str
    document: str  # as the index would embed it: header, then the unit's text (docstring removed)
    path: str
    symbol: str
    source: Source
    negative: str | None = None  # a near miss of the current index, when mined


def first_sentence(text: str) -> str:
    """The first sentence of prose, whitespace collapsed, cut to MAX_QUERY_CHARS."""
    flat = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", flat)
    return (match.group(1) if match else flat)[:MAX_QUERY_CHARS]


def _prose(doc: str) -> str:
    """A docstring or doc comment without its quotes and comment markers."""
    lines = [re.sub(r"^\s*(?:///?|/\*\*?|\*/?|#+|--)\s?", "", line) for line in doc.strip().strip("\"'").splitlines()]
    return "\n".join(lines).strip().strip("\"'").strip()


def without_doc(chunk: Chunk) -> str:
    """The chunk's text with its docstring or doc comment cut out (the line it sat on kept, blank)."""
    if chunk.doc_span is not None:
        start, end = chunk.doc_span
        return chunk.text[:start] + chunk.text[end:]
    if chunk.docstring:  # a class skeleton keeps its docstring but not where it sits: find the literal
        first = chunk.docstring.strip().splitlines()[0].strip()
        at = chunk.text.find(first) if first else -1
        if at >= 0:
            open_at = max(chunk.text.rfind('"""', 0, at), chunk.text.rfind("'''", 0, at))
            quote = chunk.text[open_at : open_at + 3] if open_at >= 0 else ""
            close_at = chunk.text.find(quote, at) if quote else -1
            if open_at >= 0 and close_at >= 0:
                return chunk.text[:open_at] + chunk.text[close_at + 3 :]
    return chunk.text


def _row(chunk: Chunk, text: str) -> dict[str, str]:
    return {"header": chunk.header, "symbol": chunk.symbol, "language": chunk.language, "text": text}


def _leading_comment(chunk: Chunk) -> str | None:
    if not chunk.signature_end:
        return None
    head, body = chunk.text[: chunk.signature_end], chunk.text[chunk.signature_end :]
    # Python's block starts at its first statement, so a comment leading the body ends the signature's span:
    # the comment lines just before signature_end lead the body too.
    leading: list[str] = []
    for line in reversed(head.splitlines()[1:]):
        if line.strip() and not _COMMENT.match(line):
            break
        leading.insert(0, line)
    for line in [*leading, *body.splitlines()[:4]]:
        if not line.strip():
            continue
        match = _COMMENT.match(line)
        return match.group(1) if match else None
    return None


def _words(text: str) -> int:
    return len(re.findall(r"[A-Za-z]{2,}", text))


def pairs_from_chunks(chunks: Iterable[Chunk], signatures: bool = False) -> list[Pair]:
    """Every pair the chunks offer (one per unit at most, the best source first)."""
    found: list[Pair] = []
    for chunk in chunks:
        if chunk.part != 1:
            continue
        if chunk.kind == "section":
            heading, _, body = chunk.text.partition("\n")
            query = re.sub(r"^[#=\-~*\s]+|[#=\-~*\s]+$", "", heading)
            if _words(query) >= 2 and body.strip():
                found.append(
                    Pair(query[:MAX_QUERY_CHARS], document_text(_row(chunk, body)), chunk.path, chunk.symbol, "heading")
                )
            continue
        if chunk.kind not in CODE_KINDS or not chunk.symbol:
            continue
        pair = _code_pair(chunk, signatures)
        if pair is not None:
            found.append(pair)
    return found


def _code_pair(chunk: Chunk, signatures: bool) -> Pair | None:
    document = document_text(_row(chunk, without_doc(chunk)))
    if chunk.docstring:
        query = first_sentence(_prose(chunk.docstring))
        if _words(query) >= MIN_QUERY_WORDS:
            return Pair(query, document, chunk.path, chunk.symbol, "docstring")
    comment = _leading_comment(chunk)
    if comment and _words(comment) >= MIN_QUERY_WORDS + 1:
        return Pair(first_sentence(comment), document, chunk.path, chunk.symbol, "comment")
    if signatures:
        name = chunk.symbol.rsplit(".", 1)[-1]
        words = " ".join(p.lower() for p in re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b|_)|[A-Z]?[a-z]+|[A-Z]+", name))
        if _words(words) >= 2:
            return Pair(words, document, chunk.path, chunk.symbol, "signature")
    return None


Search = Callable[[str, int], Sequence[tuple[str, str]]]  # query, n -> (path, symbol) best first


def with_hard_negatives(
    pairs: Sequence[Pair], search: Search, documents: dict[tuple[str, str], str], depth: int = 5
) -> list[Pair]:
    """Each pair with its first near miss in the current index: the best-ranked hit that is another unit."""
    out: list[Pair] = []
    for pair in pairs:
        negative = None
        for path, symbol in search(pair.query, depth):
            if (path, symbol) != (pair.path, pair.symbol) and (path, symbol) in documents:
                negative = documents[(path, symbol)]
                break
        out.append(Pair(**{**asdict(pair), "negative": negative}))
    return out


def pairs_digest(pairs: Sequence[Pair]) -> str:
    """A digest of the training pairs (the adapted model records it: same pairs, same model)."""
    payload = json.dumps([asdict(p) for p in pairs], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()
