"""Tree-sitter chunking into complete semantic units, cAST-style split/merge on a size budget.

Every file is tiled: the byte spans of its chunks cover it exactly once. Functions and methods are
one chunk each (with their decorators, attributes and leading doc comments); a class gives a skeleton
chunk (its header, fields and whatever lies between its methods) plus one chunk per member; what is
left at module level is merged into module chunks. A unit over the budget is split only at its
children's boundaries (recursively), and small neighbours are merged back up to the budget.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

from forge_mcp.miner.languages import (
    DECLARATIONS,
    ERROR_KIND,
    LANGUAGES,
    LanguageSpec,
    NodeKinds,
    comment_text,
    node_kinds,
    node_text,
    parser_for,
    python_docstring,
    receiver_type,
    unit_name,
)

CHUNKER_VERSION = 2
_WS = b" \t\r\n\f\v"  # bytes.strip() strips exactly these too
_WS_OR_END = _WS + b";,"
_NON_WS_RE = re.compile(b"[^ \t\r\n\f\v]")
_IS_NON_WS = bytes(0 if b in _WS else 1 for b in range(256))  # bytes.translate table: byte -> 0/1
_START, _START_OF = attrgetter("start"), itemgetter(0)
_FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function", "class"}


@dataclass(slots=True)
class Chunk:
    """One retrievable, trainable piece of a file."""

    path: str
    language: str
    symbol: str  # qualified name, e.g. "Parser.parse"; "" for module-level remainder
    kind: str  # function | method | class | type | namespace | module | section
    spans: list[tuple[int, int]]  # byte ranges in the file; all chunks' spans tile the file
    start_line: int
    end_line: int
    text: str
    header: str
    part: int = 1
    parts: int = 1
    docstring: str | None = None
    signature_end: int | None = None  # offset in `text` where the body starts (completion split)
    has_errors: bool = False
    commit: str | None = None
    content_hash: str = field(default="")
    doc_span: tuple[int, int] | None = None  # where the docstring / doc comment sits in `text`

    def __post_init__(self) -> None:
        if not self.content_hash:
            self.content_hash = hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def id(self) -> str:
        key = f"{self.path}\0{self.symbol}\0{self.part}\0{self.content_hash}"
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]

    @property
    def qualname(self) -> str:
        return f"{self.path}::{self.symbol}" if self.symbol else self.path

    _ROW = (
        "path",
        "language",
        "symbol",
        "kind",
        "spans",
        "start_line",
        "end_line",
        "text",
        "header",
        "part",
        "parts",
        "docstring",
        "signature_end",
        "has_errors",
        "commit",
        "content_hash",
        "doc_span",
    )

    def to_row(self) -> list[Any]:
        """A compact positional form for the cache (much faster to decode than dicts)."""
        return [getattr(self, name) for name in self._ROW]

    @classmethod
    def from_row(cls, row: list[Any]) -> Chunk:
        chunk = cls(*row)
        # The cache's JSON turns the (start, end) pairs into lists: make them tuples again.
        chunk.spans = [(start, end) for start, end in chunk.spans]
        if chunk.doc_span:
            start, end = chunk.doc_span
            chunk.doc_span = (start, end)
        return chunk

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._ROW} | {"id": self.id, "qualname": self.qualname}


class _Unit:
    """A semantic unit found in the tree (plain __slots__ class: tens of thousands per large repository)."""

    __slots__ = ("children", "doc", "doc_at", "end", "kind", "name", "node", "sig_end", "start")

    def __init__(self, kind: str, name: str, start: int, end: int, node: Any) -> None:
        self.kind, self.name, self.start, self.end, self.node = kind, name, start, end, node
        self.children: list[_Unit] = []  # only ever replaced, never appended to in place
        self.doc: str | None = None
        self.sig_end: int | None = None  # absolute byte offset
        self.doc_at: tuple[int, int] | None = None  # absolute byte range of the docstring or doc comments


def nws(src: bytes, start: int, end: int) -> int:
    """Non-whitespace size: the budget measure (indentation should not count)."""
    return len(src[start:end].translate(None, _WS))


def chunk_code(path: str, src: bytes, language: str, budget: int = 2000) -> list[Chunk]:
    """Chunk one source file (UTF-8 bytes) in a tree-sitter language."""
    spec = LANGUAGES[language]
    root = parser_for(language).parse(src).root_node
    errors = root.has_error
    units = _Finder(src, spec, node_kinds(language), errors).collect(root, in_class=False)
    builder = _Builder(path, language, src, spec, budget, errors)
    builder.region(0, len(src), units, "", "module", None)
    return builder.finish()


# -- finding units ---------------------------------------------------------------------------
class _Finder:
    """Finds a file's units: functions, types, classes and namespaces (with their members)."""

    def __init__(self, src: bytes, spec: LanguageSpec, kinds: NodeKinds, errors: bool) -> None:
        self.src, self.spec, self.kinds = src, spec, kinds
        # Without errors a Python block starts with its first statement, so its first bytes tell
        # whether a docstring is possible at all (see signature).
        self.python, self.clean = spec.name == "python", not errors

    def collect(self, parent: Any, in_class: bool) -> list[_Unit]:
        src, kinds = self.src, self.kinds
        units: list[_Unit] = []
        run_start: int | None = None  # a run of doc comments / attributes that belongs to the next unit
        run_end = 0
        comments: list[Any] = []
        for child in parent.named_children:
            kind_id = child.kind_id
            if kind_id in kinds.leading:
                start = child.start_byte
                if run_start is None or src.count(b"\n", run_end, start) > 1:
                    run_start, comments = start, []
                if kind_id in kinds.comments:
                    comments.append(child)
                run_end = child.end_byte
                continue
            if kind_id == ERROR_KIND:  # tree-sitter's recovery node: the units inside it are still units
                units.extend(self.collect(child, in_class))
                run_start = None
                continue
            unit = self.classify(child, in_class) if kind_id in kinds.relevant else None
            if unit is not None:
                if run_start is not None and src.count(b"\n", run_end, child.start_byte) <= 1:
                    if unit.doc is None and comments:
                        unit.doc = comment_text("\n".join(node_text(src, c) for c in comments))
                        unit.doc_at = (comments[0].start_byte, comments[-1].end_byte)
                    unit.start = run_start
                units.append(unit)
            run_start = None
        return units

    def classify(self, outer: Any, in_class: bool) -> _Unit | None:
        spec, src = self.spec, self.src
        node = outer
        kind_type = outer.type
        if kind_type in spec.wrappers:
            node = _unwrap(outer, spec, self.kinds)
            if node is None:
                return None
            kind_type = node.type
        if kind_type in DECLARATIONS:
            declarator = next((c for c in node.named_children if c.type == "variable_declarator"), None)
            value = declarator.child_by_field_name("value") if declarator is not None else None
            if declarator is None or value is None or value.type not in _FUNCTION_VALUES:
                return None
            unit = _Unit(
                "function",
                node_text(src, declarator.child_by_field_name("name")),
                outer.start_byte,
                outer.end_byte,
                outer,
            )
            self.signature(unit, value)
            return unit
        if kind_type in spec.functions:
            unit = _Unit(
                "method" if in_class else "function",
                unit_name(node, src, self.kinds.name),
                outer.start_byte,
                outer.end_byte,
                outer,
            )
            self.signature(unit, node)
            if kind_type == "method_declaration" and spec.name == "go":
                receiver = receiver_type(node, src)
                unit.name = f"{receiver}.{unit.name}" if receiver else unit.name
                unit.kind = "method"
            return unit
        if kind_type in spec.types:
            if (
                kind_type in ("struct_specifier", "enum_specifier", "union_specifier")
                and node.child_by_field_name("body") is None
            ):
                return None  # a forward declaration or a use, not a definition
            return _Unit("type", unit_name(node, src, self.kinds.name), outer.start_byte, outer.end_byte, outer)
        if kind_type in spec.containers or kind_type in spec.namespaces:
            body = node.child_by_field_id(self.kinds.body)
            if body is None and kind_type in spec.containers:
                return _Unit("type", unit_name(node, src, self.kinds.name), outer.start_byte, outer.end_byte, outer)
            kind = "class" if kind_type in spec.containers else "namespace"
            unit = _Unit(kind, unit_name(node, src, self.kinds.name), outer.start_byte, outer.end_byte, outer)
            if body is not None:
                unit.children = self.collect(body, in_class=kind == "class")
                if self.python:
                    self.signature(unit, node)
            return unit
        return None

    def signature(self, unit: _Unit, fn: Any) -> None:
        """Where the body starts (for completion examples), and a Python docstring if there is one."""
        body = fn.child_by_field_id(self.kinds.body)
        if body is None:
            return
        src, start = self.src, body.start_byte
        if not self.python:
            unit.sig_end = start + 1 if src[start : start + 1] == b"{" else start
            return
        unit.sig_end = start
        head = src[start : start + 3]  # a string literal has its quote within its first three bytes
        if self.clean and b'"' not in head and b"'" not in head:
            return  # the cheap answer for most functions: no docstring (no node needs to be looked at)
        # named_child(0), not named_children[0]: that would wrap every statement of the body in a Node.
        first = body.named_child(0) if body.named_child_count else None
        if first is None or first.type != "expression_statement" or not first.named_child_count:
            return
        literal = first.named_child(0)
        if literal is not None and literal.type == "string":
            unit.doc = python_docstring(node_text(src, literal))
            unit.sig_end = first.end_byte
            unit.doc_at = (first.start_byte, first.end_byte)


def _unwrap(node: Any, spec: LanguageSpec, kinds: NodeKinds) -> Any | None:
    while node is not None and node.type in spec.wrappers:
        inner = node.child_by_field_name("declaration") or node.child_by_field_name("definition")
        if inner is None:
            inner = next((c for c in node.named_children if c.type in kinds.wanted or c.type in spec.wrappers), None)
        node = inner
    return node


# -- tiling the file into chunks ------------------------------------------------------------
# What becomes one Chunk: (first byte, spans, symbol, kind, part, parts, unit of part 1 or None, docstring).
_Piece = tuple[int, list[tuple[int, int]], str, str, int, int, "_Unit | None", "str | None"]


class _Builder:
    """Tiles one file into pieces (spans, symbol, kind, ...), then turns them into Chunks."""

    def __init__(self, path: str, language: str, src: bytes, spec: LanguageSpec, budget: int, errors: bool) -> None:
        self.path, self.language, self.src, self.budget, self.errors = path, language, src, budget, errors
        self.header = f"{spec.comment_prefix} {path}"
        self.pieces: list[_Piece] = []
        self.cum: Any = None  # non-whitespace prefix sums over the span being split (see prefix_sums) ...
        self.base = 0  # ... which starts here

    def prefix_sums(self, start: int, end: int) -> None:
        """Prefix sums over a span about to be split: its split asks for many sizes inside it."""
        import numpy as np

        # A leading space makes entry i the count over the span's first i bytes; int32 halves the memory.
        ones = np.frombuffer((b" " + self.src[start:end]).translate(_IS_NON_WS), dtype=np.uint8)
        # Sorted, so binary-searchable for where a size is reached; a memoryview's items (.data) are ints, much
        # cheaper to index than numpy scalars (and bisect works on it directly).
        self.cum, self.base = ones.cumsum(dtype=np.int32).data, start

    def size(self, start: int, end: int) -> int:
        """nws() of a span inside the one `prefix_sums` was last called for, in O(1)."""
        return self.cum[end - self.base] - self.cum[start - self.base]

    def region(self, start: int, end: int, units: list[_Unit], scope: str, kind: str, doc: str | None) -> None:
        """Tile [start, end): each unit gets its chunk(s); the rest becomes this region's own chunk."""
        src, budget = self.src, self.budget
        units.sort(key=_START)
        leftovers: list[tuple[int, int]] = []
        cursor = start
        for i, unit in enumerate(units):
            pos = unit.start
            line_start = src.rfind(b"\n", 0, pos) + 1
            if not src[line_start:pos].strip():
                pos = line_start  # only indentation before it on its line: the unit owns that indentation
            unit.start = pos = max(pos, cursor)
            if pos > cursor:
                code = src[cursor:pos].translate(None, _WS)
                if i > 0 and not code.translate(None, b";,"):
                    units[i - 1].end = pos  # blank lines (or a lone ";") belong to the unit above
                elif not code:
                    unit.start = cursor
                else:
                    leftovers.append((cursor, pos))
            cursor = max(cursor, unit.end)
        if cursor < end:
            if units and kind == "module" and not src[cursor:end].translate(None, _WS_OR_END):
                units[-1].end = end
            else:
                leftovers.append((cursor, end))
        # A region's own chunk comes first, so a skeleton precedes its members.
        if leftovers:
            self._add(self._merge(leftovers), scope, kind, None, doc)
        for unit in units:
            symbol = f"{scope}.{unit.name}" if scope else unit.name
            ukind, ustart, uend = unit.kind, unit.start, unit.end
            if ukind == "class" or ukind == "namespace":
                self.region(ustart, uend, unit.children, symbol, ukind, unit.doc)
            elif uend - ustart <= budget or nws(src, ustart, uend) <= budget:  # the common case: one chunk
                self.pieces.append((ustart, [(ustart, uend)], symbol, ukind, 1, 1, unit, unit.doc))
            else:
                self.prefix_sums(ustart, uend)
                self._add([[p] for p in self._split(unit.node, ustart, uend)], symbol, ukind, unit, unit.doc)

    def _add(
        self, groups: list[list[tuple[int, int]]], symbol: str, kind: str, unit: _Unit | None, doc: str | None
    ) -> None:
        parts = len(groups)
        for i, spans in enumerate(groups, start=1):
            self.pieces.append(
                (spans[0][0], spans, symbol, kind, i, parts, unit, doc)
                if i == 1
                else (spans[0][0], spans, symbol, kind, i, parts, None, None)
            )

    def finish(self) -> list[Chunk]:
        """The Chunks, in file order."""
        src, header = self.src, self.header
        self.pieces.sort(key=_START_OF)
        chunks: list[Chunk] = []
        pos, line = 0, 1  # an offset and its 1-based line
        for start, spans, symbol, kind, part, parts, unit, doc in self.pieces:
            end = spans[-1][1]
            if len(spans) == 1:
                data = src[start:end]
                first, last = _edges(data, start, end)
            else:
                data = b"".join([src[s:e] for s, e in spans])
                first, last = _hull_edges(src, start, spans[-1][0], end)
            # Lines by counting newlines from the previous chunk's last line: about one pass over the file.
            line += src.count(b"\n", pos, first) if first >= pos else -src.count(b"\n", first, pos)
            pos, start_line = first, line
            line += src.count(b"\n", pos, last) if last >= pos else -src.count(b"\n", last, pos)
            pos = last
            try:
                text = data.decode("utf-8")
                digest = hashlib.sha256(data).hexdigest()  # valid UTF-8: re-encoding `text` gives `data` back
            except UnicodeDecodeError:
                text, digest = data.decode("utf-8", "replace"), ""  # Chunk hashes the re-encoded text itself
            sig, doc_span = self._offsets(unit, spans[0], text.isascii()) if unit is not None else (None, None)
            chunks.append(
                Chunk(
                    self.path,
                    self.language,
                    symbol,
                    kind,
                    spans,
                    start_line,
                    line,
                    text,
                    f"{header} / {symbol}" if symbol else header,
                    part,
                    parts,
                    doc,
                    sig,
                    self.errors,
                    None,
                    digest,
                    doc_span,
                )
            )
        return chunks

    def _offsets(self, unit: _Unit, span: tuple[int, int], ascii: bool) -> tuple[int | None, tuple[int, int] | None]:
        """Where the body starts and where the docstring sits, in characters of the chunk's text."""
        start, end = span
        sig_end, doc_at = unit.sig_end, unit.doc_at
        sig = doc_span = None
        if sig_end is not None and sig_end <= end:
            sig = max(sig_end - start, 0) if ascii else self._chars(start, sig_end)  # ASCII: a char per byte
        if doc_at and doc_at[1] <= end:
            doc_span = (
                (max(doc_at[0] - start, 0), max(doc_at[1] - start, 0))
                if ascii
                else (self._chars(start, doc_at[0]), self._chars(start, doc_at[1]))
            )
        return sig, doc_span

    def _chars(self, start: int, end: int) -> int:
        return len(self.src[start:end].decode("utf-8", "replace"))

    def _line_start(self, pos: int) -> int:
        """Cut before a statement's indentation when only whitespace precedes it on its line."""
        line_start = self.src.rfind(b"\n", 0, pos) + 1
        return line_start if not self.src[line_start:pos].strip() else pos

    def _merge(self, spans: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
        """Group leftover spans in order into chunks within the budget (splitting any oversized one)."""
        groups: list[list[tuple[int, int]]] = []
        budget, size = self.budget, 0
        for span in spans:
            span_size = nws(self.src, *span)
            if span_size <= budget:
                sized = [(span, span_size)]
            else:
                self.prefix_sums(*span)
                sized = [(p, nws(self.src, *p)) for p in self._split_lines(*span)]
            for piece, piece_size in sized:
                if groups and size + piece_size <= budget:
                    groups[-1].append(piece)
                    size += piece_size
                else:
                    groups.append([piece])
                    size = piece_size
        return groups

    def _split(self, node: Any, start: int, end: int) -> list[tuple[int, int]]:
        """cAST split: cut only at child boundaries, recursively, merging neighbours greedily."""
        budget, size = self.budget, self.size
        if end - start <= budget or size(start, end) <= budget:
            return [(start, end)]
        kids = [c for c in node.children if c.start_byte < end and c.end_byte > start and c.end_byte > c.start_byte]
        if not kids:
            return self._split_lines(start, end)
        if len(kids) == 1 and kids[0].start_byte <= start and kids[0].end_byte >= end:
            return self._split(kids[0], start, end)
        pieces: list[tuple[int, int]] = []
        cursor = start
        for kid in kids:
            ke = min(kid.end_byte, end)
            if ke - cursor <= budget or size(cursor, ke) <= budget:
                continue  # the kid fits in the current piece
            ks = max(self._line_start(kid.start_byte), start)
            if ke - ks > budget and size(ks, ke) > budget:
                # Too big alone: split it, its first piece absorbing what is pending (e.g. decorators).
                sub = self._split(kid, cursor, ke)
                pieces.extend(sub[:-1])
                cursor = sub[-1][0]
            elif ks > cursor:
                pieces.append((cursor, ks))
                cursor = ks
        pieces.append((cursor, end))
        return [p for p in pieces if p[1] > p[0]]

    def _split_lines(self, start: int, end: int) -> list[tuple[int, int]]:
        """Last resort for a leaf over the budget: whole lines, then character boundaries."""
        budget, size = self.budget, self.size
        if end - start <= budget or size(start, end) <= budget:
            return [(start, end)]
        pieces: list[tuple[int, int]] = []
        cursor = start
        while cursor < end:
            cut = self._line_cut(cursor, end)
            if cut - cursor > budget * 2 and size(cursor, cut) > budget * 2:  # one enormous line: cut inside it
                cut = cursor + budget * 2
                while cut < end and (self.src[cut] & 0xC0) == 0x80:
                    cut += 1  # never inside a UTF-8 sequence
            pieces.append((cursor, min(cut, end)))
            cursor = min(cut, end)
        return pieces

    def _line_cut(self, cursor: int, end: int) -> int:
        """Where a piece of whole lines from `cursor` ends: adding lines while it is under the budget, the
        first line end that brings it to exactly the budget, else the one before that (at least one line).
        Found by a binary search on the prefix sums instead of measuring line after line."""
        # The first offset at which the size from `cursor` reaches the budget.
        reach = self.base + bisect_left(self.cum, self.cum[cursor - self.base] + self.budget)
        if reach > end:
            return end
        nl = self.src.find(b"\n", reach - 1, end)
        line_end = end if nl == -1 else nl + 1  # the first line end whose piece is at least the budget
        if self.size(cursor, line_end) == self.budget:
            return line_end
        before = self.src.rfind(b"\n", cursor, line_end - 1)
        return before + 1 if before != -1 else line_end


def _edges(data: bytes, start: int, end: int) -> tuple[int, int]:
    """The first and last non-whitespace offsets of the span `data` = src[start:end] (reported line
    ranges ignore blank edges; spans keep them); for a blank span: its last byte and its first."""
    lead = len(data) - len(data.lstrip())
    if lead == len(data):
        return max(end - 1, start), start
    return start + lead, start + len(data.rstrip()) - 1


def _hull_edges(src: bytes, start: int, last_start: int, end: int) -> tuple[int, int]:
    """The same for several spans, searched over their hull [start, end), which may hold other chunks."""
    found = _NON_WS_RE.search(src, start, end)
    if found is None:
        return max(end - 1, start), start
    tail = src[last_start:end].rstrip()  # the last span first: the whole hull is rarely needed
    return found.start(), (last_start + len(tail) - 1 if tail else start + len(src[start:end].rstrip()) - 1)
