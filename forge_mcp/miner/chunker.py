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
_WS = b" \t\r\n\f\v"
_NEWLINE = re.compile(b"\n")


def _non_ws_table() -> Any:
    import numpy as np

    table = np.ones(256, dtype=np.int64)
    table[list(_WS)] = 0
    return table


class _LazyTable:
    """The byte -> is-not-whitespace table, built on first use (numpy is imported lazily)."""

    def __getitem__(self, data: Any) -> Any:
        global _NON_WS
        _NON_WS = _non_ws_table()  # type: ignore[assignment]
        return _NON_WS[data]


_NON_WS: Any = _LazyTable()
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


@dataclass
class _Unit:
    kind: str
    name: str
    start: int
    end: int
    node: Any
    children: list["_Unit"] = field(default_factory=list)
    doc: str | None = None
    sig_end: int | None = None  # absolute byte offset
    doc_at: tuple[int, int] | None = None  # absolute byte range of the docstring or doc comments


def _trivial(gap: bytes) -> bool:
    """Whitespace, or the ";"/"," that ends a declaration: not worth a chunk of its own."""
    return not gap.translate(None, _WS + b";,")


def nws(src: bytes, start: int, end: int) -> int:
    """Non-whitespace size: the budget measure (indentation should not count)."""
    return len(src[start:end].translate(None, _WS))


def chunk_code(path: str, src: bytes, language: str, budget: int = 2000) -> list[Chunk]:
    """Chunk one source file (UTF-8 bytes) in a tree-sitter language."""
    spec = LANGUAGES[language]
    tree = parser_for(language).parse(src)
    units = _collect(tree.root_node, [], spec, src, in_class=False)
    builder = _Builder(path, language, src, spec, budget, tree.root_node.has_error)
    builder.region(0, len(src), units, "", "module", None)
    return sorted(builder.chunks, key=lambda c: c.spans[0][0])


# -- finding units ---------------------------------------------------------------------------
def _collect(parent: Any, scope: list[str], spec: LanguageSpec, src: bytes, in_class: bool) -> list[_Unit]:
    units: list[_Unit] = []
    run_start: int | None = None  # a run of doc comments / attributes that belongs to the next unit
    run_end = 0
    comments: list[Any] = []
    for child in parent.named_children:
        if child.type in spec.comments or child.type in spec.attached:
            if run_start is None or src[run_end:child.start_byte].count(b"\n") > 1:
                run_start, comments = child.start_byte, []
            if child.type in spec.comments:
                comments.append(child)
            run_end = child.end_byte
            continue
        if child.type == "ERROR":  # tree-sitter's recovery node: the units inside it are still units
            units.extend(_collect(child, scope, spec, src, in_class))
            run_start = None
            continue
        unit = _classify(child, scope, spec, src, in_class)
        if unit is not None:
            if run_start is not None and src[run_end:child.start_byte].count(b"\n") <= 1:
                if unit.doc is None and comments:
                    unit.doc = _comment_text("\n".join(_text(src, c) for c in comments))
                    unit.doc_at = (comments[0].start_byte, comments[-1].end_byte)
                unit.start = run_start
            units.append(unit)
        run_start = None
    return units


def _unwrap(node: Any, spec: LanguageSpec) -> Any | None:
    wanted = spec.functions | spec.types | spec.containers | spec.namespaces
    while node is not None and node.type in spec.wrappers:
        inner = node.child_by_field_name("declaration") or node.child_by_field_name("definition")
        if inner is None:
            inner = next((c for c in node.named_children if c.type in wanted or c.type in spec.wrappers), None)
        node = inner
    return node


def _classify(outer: Any, scope: list[str], spec: LanguageSpec, src: bytes, in_class: bool) -> _Unit | None:
    node = _unwrap(outer, spec)
    if node is None:
        return None
    kind_type = node.type
    if kind_type in ("lexical_declaration", "variable_declaration"):
        declarator = next((c for c in node.named_children if c.type == "variable_declarator"), None)
        value = declarator.child_by_field_name("value") if declarator is not None else None
        if value is None or value.type not in _FUNCTION_VALUES:
            return None
        unit = _Unit("function", _text(src, declarator.child_by_field_name("name")), outer.start_byte,
                     outer.end_byte, outer)
        _signature(unit, value, spec, src)
        return unit
    if kind_type in spec.functions:
        kind = "method" if in_class else "function"
        unit = _Unit(kind, _name(node, src), outer.start_byte, outer.end_byte, outer)
        _signature(unit, node, spec, src)
        if node.type == "method_declaration" and spec.name == "go":
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
        name = _name(node, src)
        kind = "class" if kind_type in spec.containers else "namespace"
        unit = _Unit(kind, name, outer.start_byte, outer.end_byte, outer)
        if body is not None:
            unit.children = _collect(body, [*scope, name], spec, src, in_class=kind == "class")
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
        first = body.named_children[0] if body.named_children else None
        if first is not None and first.type == "expression_statement" and first.named_children \
                and first.named_children[0].type == "string":
            unit.doc = _python_docstring(_text(src, first.named_children[0]))
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
    import ast
    import inspect

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
class _Builder:
    def __init__(self, path: str, language: str, src: bytes, spec: LanguageSpec, budget: int, errors: bool) -> None:
        import numpy as np

        self.path, self.language, self.src, self.spec, self.budget = path, language, src, spec, budget
        self.errors = errors
        data = np.frombuffer(src, dtype=np.uint8)
        self.newlines = np.flatnonzero(data == 10)
        # Prefix sums of non-whitespace bytes: any span's budget size in O(1) instead of a scan.
        self.cum = np.zeros(len(src) + 1, dtype=np.int64)
        np.cumsum(_NON_WS[data], out=self.cum[1:])
        self.chunks: list[Chunk] = []

    def nws(self, start: int, end: int) -> int:
        return int(self.cum[end] - self.cum[start])

    def region(self, start: int, end: int, units: list[_Unit], scope: str, kind: str, doc: str | None) -> None:
        """Tile [start, end): each unit gets its chunk(s); the rest becomes this region's own chunk."""
        units = sorted(units, key=lambda u: u.start)
        leftovers: list[tuple[int, int]] = []
        cursor = start
        for i, unit in enumerate(units):
            unit.start = max(self._line_start(unit.start), cursor)  # a unit owns its indentation
            if unit.start > cursor:
                gap = (cursor, unit.start)
                if i > 0 and _trivial(self.src[gap[0]:gap[1]]):
                    units[i - 1].end = unit.start  # blank lines (or a lone ";") belong to the unit above
                elif self.nws(*gap) == 0:
                    unit.start = cursor
                else:
                    leftovers.append(gap)
            cursor = max(cursor, unit.end)
        if cursor < end:
            if units and _trivial(self.src[cursor:end]) and kind == "module":
                units[-1].end = end
            else:
                leftovers.append((cursor, end))
        # A region's own chunk comes first, so a skeleton precedes its members.
        if leftovers:
            self._emit(leftovers, scope, kind, None, doc)
        for unit in units:
            symbol = f"{scope}.{unit.name}" if scope else unit.name
            if unit.kind in ("class", "namespace"):
                self.region(unit.start, unit.end, unit.children, symbol, unit.kind, unit.doc)
            else:
                self._emit([(unit.start, unit.end)], symbol, unit.kind, unit)

    def _emit(self, spans: list[tuple[int, int]], symbol: str, kind: str, unit: _Unit | None,
              doc: str | None = None) -> None:
        pieces: list[list[tuple[int, int]]] = []
        if unit is not None:
            pieces = [[p] for p in self._split(unit.node, spans[0][0], spans[0][1])]
        else:
            pieces = self._merge(spans)
        for i, piece in enumerate(pieces, start=1):
            text = b"".join(self.src[s:e] for s, e in piece).decode("utf-8", "replace")
            sig = None
            doc_span = None
            if unit is not None and i == 1 and unit.sig_end is not None and unit.sig_end <= piece[0][1]:
                sig = len(self.src[piece[0][0]:unit.sig_end].decode("utf-8", "replace"))
            if unit is not None and i == 1 and unit.doc_at and unit.doc_at[1] <= piece[0][1]:
                doc_span = (self._chars(piece[0][0], unit.doc_at[0]), self._chars(piece[0][0], unit.doc_at[1]))
            header = f"{self.spec.comment_prefix} {self.path}" + (f" / {symbol}" if symbol else "")
            self.chunks.append(Chunk(
                path=self.path, language=self.language, symbol=symbol, kind=kind, spans=piece,
                start_line=self._line(self._skip_ws(piece[0][0], piece[-1][1])),
                end_line=self._line(self._last_non_ws(piece[0][0], piece[-1][1])),
                text=text, header=header, part=i, parts=len(pieces),
                docstring=(unit.doc if unit is not None else doc) if i == 1 else None, signature_end=sig,
                has_errors=self.errors, doc_span=doc_span,
            ))

    def _skip_ws(self, start: int, end: int) -> int:
        """First non-whitespace offset (reported line ranges ignore blank edges; spans keep them)."""
        first = int(self.cum.searchsorted(self.cum[start] + 1)) - 1  # where the count first grows
        return min(first, end - 1) if first < end else max(end - 1, start)

    def _last_non_ws(self, start: int, end: int) -> int:
        last = int(self.cum.searchsorted(self.cum[end])) - 1  # the byte that made the last increment
        return max(last, start)

    def _line_start(self, pos: int) -> int:
        """Cut before a statement's indentation when only whitespace precedes it on its line."""
        line_start = self.src.rfind(b"\n", 0, pos) + 1
        return line_start if not self.src[line_start:pos].strip() else pos

    def _chars(self, start: int, end: int) -> int:
        return len(self.src[start:end].decode("utf-8", "replace"))

    def _line(self, offset: int) -> int:
        return int(self.newlines.searchsorted(offset)) + 1

    def _merge(self, spans: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
        """Group leftover spans in order into chunks within the budget (splitting any oversized one)."""
        groups: list[list[tuple[int, int]]] = []
        size = 0
        for s, e in (p for span in spans for p in self._split_lines(*span)):
            piece = self.nws(s, e)
            if groups and size + piece <= self.budget:
                groups[-1].append((s, e))
                size += piece
            else:
                groups.append([(s, e)])
                size = piece
        return groups

    def _split(self, node: Any, start: int, end: int) -> list[tuple[int, int]]:
        """cAST split: cut only at child boundaries, recursively, merging neighbours greedily."""
        if self.nws(start, end) <= self.budget:
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
            if self.nws(cursor, ke) <= self.budget:
                continue  # the kid fits in the current piece
            if self.nws(ks, ke) > self.budget:
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
        if self.nws(start, end) <= self.budget:
            return [(start, end)]
        pieces: list[tuple[int, int]] = []
        cursor = start
        while cursor < end:
            cut = cursor
            limit = cursor
            while limit < end and self.nws(cursor, limit) < self.budget:
                nl = self.src.find(b"\n", limit, end)
                limit = end if nl == -1 else nl + 1
                if self.nws(cursor, limit) <= self.budget or cut == cursor:
                    cut = limit
            if self.nws(cursor, cut) > self.budget * 2:  # one enormous line: cut inside it
                cut = cursor + self.budget * 2
                while cut < end and (self.src[cut] & 0xC0) == 0x80:
                    cut += 1  # never inside a UTF-8 sequence
            pieces.append((cursor, min(cut, end)))
            cursor = min(cut, end)
        return pieces
