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
from dataclasses import dataclass, field
from typing import Any

from forge_mcp.miner.languages import LANGUAGES, LanguageSpec, parser_for

CHUNKER_VERSION = 2
_WS = b" \t\r\n\f\v"  # bytes.strip() strips exactly these too
_WS_OR_END = _WS + b";,"
_NON_WS_RE = re.compile(b"[^ \t\r\n\f\v]")
_IS_NON_WS = bytes(0 if b in _WS else 1 for b in range(256))  # bytes.translate table: byte -> 0/1
_DIRECT = 512  # spans up to this many bytes are counted directly instead of through prefix sums
_DECLARATIONS = ("lexical_declaration", "variable_declaration")
_FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function", "class"}
_NAME_NODES = {"identifier", "field_identifier", "qualified_identifier", "operator_name", "destructor_name",
               "type_identifier", "property_identifier", "constant", "scoped_identifier"}


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

    _ROW = ("path", "language", "symbol", "kind", "spans", "start_line", "end_line", "text", "header", "part",
            "parts", "docstring", "signature_end", "has_errors", "commit", "content_hash", "doc_span")

    def to_row(self) -> list[Any]:
        """A compact positional form for the cache (much faster to decode than dicts)."""
        return [getattr(self, name) for name in self._ROW]

    @classmethod
    def from_row(cls, row: list[Any]) -> "Chunk":
        chunk = cls(*row)
        chunk.spans = [(s, e) for s, e in chunk.spans]
        chunk.doc_span = tuple(chunk.doc_span) if chunk.doc_span else None  # type: ignore[assignment]
        return chunk

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._ROW} | {"id": self.id, "qualname": self.qualname}


class _Unit:
    """A semantic unit found in the tree (plain __slots__ class: tens of thousands per large repository)."""

    __slots__ = ("kind", "name", "start", "end", "node", "children", "doc", "sig_end", "doc_at")

    def __init__(self, kind: str, name: str, start: int, end: int, node: Any) -> None:
        self.kind, self.name, self.start, self.end, self.node = kind, name, start, end, node
        self.children: list[_Unit] = []  # only ever replaced, never appended to in place
        self.doc: str | None = None
        self.sig_end: int | None = None  # absolute byte offset
        self.doc_at: tuple[int, int] | None = None  # absolute byte range of the docstring or doc comments


class _Kinds:
    """A language's node-type sets, unioned once (not on every node)."""

    __slots__ = ("leading", "relevant", "wanted")

    def __init__(self, spec: LanguageSpec) -> None:
        self.leading = spec.comments | spec.attached  # what may precede a unit and belong to it
        self.wanted = spec.functions | spec.types | spec.containers | spec.namespaces
        self.relevant = self.wanted | spec.wrappers | set(_DECLARATIONS)  # anything _classify may accept


_KINDS: dict[str, _Kinds] = {}


def _kinds(spec: LanguageSpec) -> _Kinds:
    kinds = _KINDS.get(spec.name)
    if kinds is None:
        kinds = _KINDS[spec.name] = _Kinds(spec)
    return kinds


def nws(src: bytes, start: int, end: int) -> int:
    """Non-whitespace size: the budget measure (indentation should not count)."""
    return len(src[start:end].translate(None, _WS))


def chunk_code(path: str, src: bytes, language: str, budget: int = 2000) -> list[Chunk]:
    """Chunk one source file (UTF-8 bytes) in a tree-sitter language."""
    spec = LANGUAGES[language]
    root = parser_for(language).parse(src).root_node
    units = _collect(root, spec, _kinds(spec), src, in_class=False)
    builder = _Builder(path, language, src, spec, budget, root.has_error)
    builder.region(0, len(src), units, "", "module", None)
    return builder.finish()


# -- finding units ---------------------------------------------------------------------------
def _collect(parent: Any, spec: LanguageSpec, kinds: _Kinds, src: bytes, in_class: bool) -> list[_Unit]:
    units: list[_Unit] = []
    run_start: int | None = None  # a run of doc comments / attributes that belongs to the next unit
    run_end = 0
    comments: list[Any] = []
    for child in parent.named_children:
        ctype = child.type  # a new str on every access: read it once
        if ctype in kinds.leading:
            start = child.start_byte
            if run_start is None or src.count(b"\n", run_end, start) > 1:
                run_start, comments = start, []
            if ctype in spec.comments:
                comments.append(child)
            run_end = child.end_byte
            continue
        if ctype == "ERROR":  # tree-sitter's recovery node: the units inside it are still units
            units.extend(_collect(child, spec, kinds, src, in_class))
            run_start = None
            continue
        unit = _classify(child, ctype, spec, kinds, src, in_class) if ctype in kinds.relevant else None
        if unit is not None:
            if run_start is not None and src.count(b"\n", run_end, child.start_byte) <= 1:
                if unit.doc is None and comments:
                    unit.doc = _comment_text("\n".join(_text(src, c) for c in comments))
                    unit.doc_at = (comments[0].start_byte, comments[-1].end_byte)
                unit.start = run_start
            units.append(unit)
        run_start = None
    return units


def _unwrap(node: Any, spec: LanguageSpec, kinds: _Kinds) -> Any | None:
    while node is not None and node.type in spec.wrappers:
        inner = node.child_by_field_name("declaration") or node.child_by_field_name("definition")
        if inner is None:
            inner = next((c for c in node.named_children if c.type in kinds.wanted or c.type in spec.wrappers), None)
        node = inner
    return node


def _classify(outer: Any, otype: str, spec: LanguageSpec, kinds: _Kinds, src: bytes, in_class: bool) -> _Unit | None:
    node, kind_type = outer, otype
    if otype in spec.wrappers:
        node = _unwrap(outer, spec, kinds)
        if node is None:
            return None
        kind_type = node.type
    if kind_type in _DECLARATIONS:
        declarator = next((c for c in node.named_children if c.type == "variable_declarator"), None)
        value = declarator.child_by_field_name("value") if declarator is not None else None
        if value is None or value.type not in _FUNCTION_VALUES:
            return None
        unit = _Unit("function", _text(src, declarator.child_by_field_name("name")), outer.start_byte,
                     outer.end_byte, outer)
        _signature(unit, value, spec, src)
        return unit
    if kind_type in spec.functions:
        unit = _Unit("method" if in_class else "function", _name(node, src), outer.start_byte, outer.end_byte, outer)
        _signature(unit, node, spec, src)
        if kind_type == "method_declaration" and spec.name == "go":
            receiver = _receiver_type(node, src)
            unit.name = f"{receiver}.{unit.name}" if receiver else unit.name
            unit.kind = "method"
        return unit
    if kind_type in spec.types:
        if kind_type in ("struct_specifier", "enum_specifier", "union_specifier") and node.child_by_field_name("body") is None:
            return None  # a forward declaration or a use, not a definition
        return _Unit("type", _name(node, src), outer.start_byte, outer.end_byte, outer)
    if kind_type in spec.containers or kind_type in spec.namespaces:
        body = node.child_by_field_name("body")
        if body is None and kind_type in spec.containers:
            return _Unit("type", _name(node, src), outer.start_byte, outer.end_byte, outer)
        kind = "class" if kind_type in spec.containers else "namespace"
        unit = _Unit(kind, _name(node, src), outer.start_byte, outer.end_byte, outer)
        if body is not None:
            unit.children = _collect(body, spec, kinds, src, in_class=kind == "class")
            if spec.name == "python":
                _signature(unit, node, spec, src)
        return unit
    return None


def _signature(unit: _Unit, fn: Any, spec: LanguageSpec, src: bytes) -> None:
    """Where the body starts (for completion examples), and a Python docstring if there is one."""
    body = fn.child_by_field_name("body")
    if body is None:
        return
    if spec.name == "python":
        # named_child(0), not named_children[0]: that would wrap every statement of the body in a Node.
        first = body.named_child(0) if body.named_child_count else None
        literal = first.named_child(0) if first is not None and first.type == "expression_statement" \
            and first.named_child_count else None
        if literal is not None and literal.type == "string":
            unit.doc = _python_docstring(_text(src, literal))
            unit.sig_end = first.end_byte
            unit.doc_at = (first.start_byte, first.end_byte)
        else:
            unit.sig_end = body.start_byte
    elif src[body.start_byte:body.start_byte + 1] == b"{":
        unit.sig_end = body.start_byte + 1
    else:
        unit.sig_end = body.start_byte


def _name(node: Any, src: bytes) -> str:
    named = node.child_by_field_name("name")
    if named is not None:
        return _text(src, named)
    if node.type == "impl_item":
        typ = _text(src, node.child_by_field_name("type")).split("<", 1)[0]
        return typ or "impl"
    if node.type == "type_declaration":
        spec_node = next((c for c in node.named_children if c.child_by_field_name("name")), None)
        return _text(src, spec_node.child_by_field_name("name")) if spec_node else "type"
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type not in _NAME_NODES:
        declarator = declarator.child_by_field_name("declarator") or next(
            (c for c in declarator.named_children if c.type in _NAME_NODES), None)
    if declarator is not None:
        return _text(src, declarator).replace("::", ".")
    return f"<anonymous@{node.start_point[0] + 1}>"


def _receiver_type(node: Any, src: bytes) -> str:
    receiver = node.child_by_field_name("receiver")
    stack = [receiver] if receiver is not None else []
    while stack:
        current = stack.pop(0)
        if current.type == "type_identifier":
            return _text(src, current)
        stack.extend(current.named_children)
    return ""


def _text(src: bytes, node: Any) -> str:
    return src[node.start_byte:node.end_byte].decode("utf-8", "replace") if node is not None else ""


def _python_docstring(literal: str) -> str:
    import inspect

    quote = literal[:1]
    if quote in ("'", '"') and "\\" not in literal and "\r" not in literal and "\0" not in literal:
        # No prefix, escape or line-ending translation: the literal's value is its inside, so the
        # compile in ast.literal_eval (most of this function's time) can be skipped.
        fence = quote * 3 if literal[:3] == quote * 3 and len(literal) >= 6 else quote
        inside = literal[len(fence):-len(fence)]
        if literal.endswith(fence) and fence not in inside and not inside.endswith(quote) \
                and (len(fence) == 3 or "\n" not in inside):
            return inspect.cleandoc(inside)
    import ast

    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return literal.strip("\"'rRbBuUfF ")
    return inspect.cleandoc(value) if isinstance(value, str) else ""


def _comment_text(raw: str) -> str:
    lines = []
    for line in raw.splitlines():
        line = line.strip()
        for marker in ("///", "//!", "//", "/**", "/*", "*/", "#", "*"):
            if line.startswith(marker):
                line = line[len(marker):]
                break
        line = line.removesuffix("*/").strip()
        if line or lines:
            lines.append(line)
    return "\n".join(lines).strip()


# -- tiling the file into chunks ------------------------------------------------------------
# A piece to become a Chunk: (spans, symbol, kind, part, parts, unit or None, docstring).
_Piece = tuple[list[tuple[int, int]], str, str, int, int, "_Unit | None", "str | None"]


class _Builder:
    def __init__(self, path: str, language: str, src: bytes, spec: LanguageSpec, budget: int, errors: bool) -> None:
        self.path, self.language, self.src, self.budget, self.errors = path, language, src, budget, errors
        self.header = f"{spec.comment_prefix} {path}"
        self.cum: Any = None  # prefix sums of non-whitespace bytes, built only when a split needs many sizes
        self.pieces: list[_Piece] = []

    def count(self, start: int, end: int) -> int:
        """The budget size of one span, counted directly (for sizes asked once)."""
        return len(self.src[start:end].translate(None, _WS))

    def nws(self, start: int, end: int) -> int:
        """The budget size of a span asked for repeatedly (splitting): O(1) from prefix sums."""
        if end - start <= _DIRECT:
            return len(self.src[start:end].translate(None, _WS))
        if self.cum is None:
            import numpy as np

            cum = np.zeros(len(self.src) + 1, dtype=np.int64)
            np.cumsum(np.frombuffer(self.src.translate(_IS_NON_WS), dtype=np.uint8), dtype=np.int64, out=cum[1:])
            self.cum = memoryview(cum)  # indexing a memoryview gives ints, much cheaper than numpy scalars
        return self.cum[end] - self.cum[start]

    def fits(self, start: int, end: int) -> bool:
        # The byte length bounds the size: most spans are settled without counting anything.
        return end - start <= self.budget or self.nws(start, end) <= self.budget

    def region(self, start: int, end: int, units: list[_Unit], scope: str, kind: str, doc: str | None) -> None:
        """Tile [start, end): each unit gets its chunk(s); the rest becomes this region's own chunk."""
        src = self.src
        units = sorted(units, key=lambda u: u.start)
        leftovers: list[tuple[int, int]] = []
        cursor = start
        for i, unit in enumerate(units):
            unit.start = max(self._line_start(unit.start), cursor)  # a unit owns its indentation
            if unit.start > cursor:
                code = src[cursor:unit.start].translate(None, _WS)
                if i > 0 and not code.translate(None, b";,"):
                    units[i - 1].end = unit.start  # blank lines (or a lone ";") belong to the unit above
                elif not code:
                    unit.start = cursor
                else:
                    leftovers.append((cursor, unit.start))
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
            if unit.kind in ("class", "namespace"):
                self.region(unit.start, unit.end, unit.children, symbol, unit.kind, unit.doc)
            else:
                self._add([[p] for p in self._split(unit.node, unit.start, unit.end)], symbol, unit.kind, unit,
                          unit.doc)

    def _add(self, groups: list[list[tuple[int, int]]], symbol: str, kind: str, unit: _Unit | None,
             doc: str | None) -> None:
        parts = len(groups)
        for i, spans in enumerate(groups, start=1):
            self.pieces.append((spans, symbol, kind, i, parts, unit, doc) if i == 1 else
                               (spans, symbol, kind, i, parts, None, None))

    def finish(self) -> list[Chunk]:
        """The Chunks, in file order; line numbers for all of them in one vectorised lookup."""
        src = self.src
        pieces = sorted(self.pieces, key=lambda p: p[0][0][0])
        edges: list[int] = []
        for spans, *_ in pieces:
            edges.append(_first_non_ws(src, spans[0][0], spans[-1][1]))
        for spans, *_ in pieces:
            edges.append(_last_non_ws(src, spans[0][0], spans[-1][0], spans[-1][1]))
        lines = self._lines(edges)
        n = len(pieces)
        chunks: list[Chunk] = []
        for k, (spans, symbol, kind, part, parts, unit, doc) in enumerate(pieces):
            data = src[spans[0][0]:spans[0][1]] if len(spans) == 1 else b"".join(src[s:e] for s, e in spans)
            try:
                text = data.decode("utf-8")
                digest = hashlib.sha256(data).hexdigest()  # valid UTF-8: re-encoding `text` gives `data` back
            except UnicodeDecodeError:
                text, digest = data.decode("utf-8", "replace"), ""  # Chunk hashes the re-encoded text itself
            sig, doc_span = self._offsets(unit, spans[0], text) if unit is not None else (None, None)
            chunks.append(Chunk(self.path, self.language, symbol, kind, spans, lines[k], lines[n + k], text,
                                f"{self.header} / {symbol}" if symbol else self.header, part, parts, doc, sig,
                                self.errors, None, digest, doc_span))
        return chunks

    def _offsets(self, unit: _Unit, span: tuple[int, int], text: str) -> tuple[int | None, tuple[int, int] | None]:
        """Where the body starts and where the docstring sits, in characters of `text`."""
        start, end = span
        # An ASCII text has one character per byte; otherwise decode the prefix to count characters.
        chars = (lambda pos: max(pos - start, 0)) if text.isascii() else \
            (lambda pos: len(self.src[start:pos].decode("utf-8", "replace")))
        sig = chars(unit.sig_end) if unit.sig_end is not None and unit.sig_end <= end else None
        doc_span = (chars(unit.doc_at[0]), chars(unit.doc_at[1])) if unit.doc_at and unit.doc_at[1] <= end else None
        return sig, doc_span

    def _lines(self, offsets: list[int]) -> list[int]:
        """1-based line of each offset: the newlines before it, counted by one binary search each."""
        import numpy as np

        newlines = np.flatnonzero(np.frombuffer(self.src, dtype=np.uint8) == 10)
        return (newlines.searchsorted(offsets) + 1).tolist()

    def _line_start(self, pos: int) -> int:
        """Cut before a statement's indentation when only whitespace precedes it on its line."""
        line_start = self.src.rfind(b"\n", 0, pos) + 1
        return line_start if not self.src[line_start:pos].strip() else pos

    def _merge(self, spans: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
        """Group leftover spans in order into chunks within the budget (splitting any oversized one)."""
        groups: list[list[tuple[int, int]]] = []
        size = 0
        for s, e in (p for span in spans for p in self._split_lines(*span)):
            piece = self.count(s, e)
            if groups and size + piece <= self.budget:
                groups[-1].append((s, e))
                size += piece
            else:
                groups.append([(s, e)])
                size = piece
        return groups

    def _split(self, node: Any, start: int, end: int) -> list[tuple[int, int]]:
        """cAST split: cut only at child boundaries, recursively, merging neighbours greedily."""
        if end - start <= self.budget or self.count(start, end) <= self.budget:
            return [(start, end)]
        kids = [c for c in node.children if c.start_byte < end and c.end_byte > start and c.end_byte > c.start_byte]
        if not kids:
            return self._split_lines(start, end)
        if len(kids) == 1 and kids[0].start_byte <= start and kids[0].end_byte >= end:
            return self._split(kids[0], start, end)
        pieces: list[tuple[int, int]] = []
        cursor = start
        for kid in kids:
            ks, ke = max(self._line_start(kid.start_byte), start), min(kid.end_byte, end)
            if self.fits(cursor, ke):
                continue  # the kid fits in the current piece
            if not self.fits(ks, ke):
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
        if end - start <= self.budget or self.count(start, end) <= self.budget:
            return [(start, end)]
        pieces: list[tuple[int, int]] = []
        cursor = start
        while cursor < end:
            cut = cursor
            limit = cursor
            while limit < end and (limit - cursor < self.budget or self.nws(cursor, limit) < self.budget):
                nl = self.src.find(b"\n", limit, end)
                limit = end if nl == -1 else nl + 1
                if self.fits(cursor, limit) or cut == cursor:
                    cut = limit
            if cut - cursor > self.budget * 2 and self.nws(cursor, cut) > self.budget * 2:  # one enormous line
                cut = cursor + self.budget * 2
                while cut < end and (self.src[cut] & 0xC0) == 0x80:
                    cut += 1  # never inside a UTF-8 sequence
            pieces.append((cursor, min(cut, end)))
            cursor = min(cut, end)
        return pieces


def _first_non_ws(src: bytes, start: int, end: int) -> int:
    """First non-whitespace offset (reported line ranges ignore blank edges; spans keep them)."""
    found = _NON_WS_RE.search(src, start, end)
    return found.start() if found is not None else max(end - 1, start)


def _last_non_ws(src: bytes, start: int, last_start: int, end: int) -> int:
    tail = src[last_start:end].rstrip()  # the last span first: the whole range is rarely needed
    if tail:
        return last_start + len(tail) - 1
    whole = src[start:end].rstrip()
    return start + len(whole) - 1 if whole else start
