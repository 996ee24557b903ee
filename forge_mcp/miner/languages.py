"""The languages the chunker understands: tree-sitter grammars and which nodes are semantic units.

Grammar packages are pinned below 0.22 (0.23+ return capsules that tree-sitter 0.22, which codebleu
requires, rejects). Parsers are created lazily, once per language and thread. Also here: those node
types as kind ids (what the chunker tests on every node), and how each grammar names a unit and each
language writes its documentation.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import threading
from dataclasses import dataclass, field
from typing import Any

_local = threading.local()


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    extensions: tuple[str, ...]
    module: str
    attr: str = "language"
    functions: frozenset[str] = frozenset()  # leaf units: functions, methods, type declarations
    types: frozenset[str] = frozenset()  # leaf units of kind "type" (structs, enums, aliases)
    containers: frozenset[str] = frozenset()  # class-like: a skeleton chunk plus their members
    namespaces: frozenset[str] = frozenset()  # grouping only: members are chunked, no skeleton of their own
    wrappers: frozenset[str] = frozenset()  # export/decorator/template wrappers around a unit
    comments: frozenset[str] = frozenset({"comment"})
    attached: frozenset[str] = frozenset()  # nodes that belong to the next unit (attributes, annotations)
    comment_prefix: str = "//"
    extra: dict[str, Any] = field(default_factory=dict)


_C_LIKE_COMMENTS = frozenset({"comment"})

LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            "python",
            (".py", ".pyi"),
            "tree_sitter_python",
            functions=frozenset({"function_definition"}),
            containers=frozenset({"class_definition"}),
            wrappers=frozenset({"decorated_definition"}),
            comment_prefix="#",
        ),
        LanguageSpec(
            "javascript",
            (".js", ".mjs", ".cjs", ".jsx"),
            "tree_sitter_javascript",
            functions=frozenset(
                {
                    "function_declaration",
                    "generator_function_declaration",
                    "method_definition",
                    "lexical_declaration",
                    "variable_declaration",
                }
            ),
            containers=frozenset({"class_declaration", "class"}),
            wrappers=frozenset({"export_statement"}),
        ),
        LanguageSpec(
            "typescript",
            (".ts", ".mts", ".cts"),
            "tree_sitter_typescript",
            "language_typescript",
            functions=frozenset(
                {
                    "function_declaration",
                    "generator_function_declaration",
                    "method_definition",
                    "lexical_declaration",
                    "variable_declaration",
                    "function_signature",
                    "abstract_method_signature",
                }
            ),
            types=frozenset({"interface_declaration", "type_alias_declaration", "enum_declaration"}),
            containers=frozenset({"class_declaration", "abstract_class_declaration"}),
            namespaces=frozenset({"internal_module", "module"}),
            wrappers=frozenset({"export_statement", "expression_statement", "ambient_declaration"}),
        ),
        LanguageSpec(
            "tsx",
            (".tsx",),
            "tree_sitter_typescript",
            "language_tsx",
            functions=frozenset(
                {
                    "function_declaration",
                    "generator_function_declaration",
                    "method_definition",
                    "lexical_declaration",
                    "variable_declaration",
                }
            ),
            types=frozenset({"interface_declaration", "type_alias_declaration", "enum_declaration"}),
            containers=frozenset({"class_declaration", "abstract_class_declaration"}),
            namespaces=frozenset({"internal_module", "module"}),
            wrappers=frozenset({"export_statement", "expression_statement", "ambient_declaration"}),
        ),
        LanguageSpec(
            "go",
            (".go",),
            "tree_sitter_go",
            functions=frozenset({"function_declaration", "method_declaration"}),
            types=frozenset({"type_declaration"}),
        ),
        LanguageSpec(
            "rust",
            (".rs",),
            "tree_sitter_rust",
            functions=frozenset({"function_item", "function_signature_item", "macro_definition"}),
            types=frozenset({"struct_item", "enum_item", "type_item", "union_item", "const_item", "static_item"}),
            containers=frozenset({"impl_item", "trait_item"}),
            namespaces=frozenset({"mod_item"}),
            comments=frozenset({"line_comment", "block_comment"}),
            attached=frozenset({"attribute_item"}),
        ),
        LanguageSpec(
            "java",
            (".java",),
            "tree_sitter_java",
            functions=frozenset({"method_declaration", "constructor_declaration", "compact_constructor_declaration"}),
            containers=frozenset(
                {
                    "class_declaration",
                    "interface_declaration",
                    "enum_declaration",
                    "record_declaration",
                    "annotation_type_declaration",
                }
            ),
            comments=frozenset({"line_comment", "block_comment"}),
        ),
        LanguageSpec(
            "c",
            (".c", ".h"),
            "tree_sitter_c",
            functions=frozenset({"function_definition"}),
            types=frozenset({"struct_specifier", "enum_specifier", "union_specifier", "type_definition"}),
        ),
        LanguageSpec(
            "cpp",
            (".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".ipp"),
            "tree_sitter_cpp",
            functions=frozenset({"function_definition"}),
            types=frozenset({"enum_specifier", "type_definition", "alias_declaration", "union_specifier"}),
            containers=frozenset({"class_specifier", "struct_specifier"}),
            namespaces=frozenset({"namespace_definition", "linkage_specification"}),
            wrappers=frozenset({"template_declaration"}),
        ),
        LanguageSpec(
            "ruby",
            (".rb", ".rake"),
            "tree_sitter_ruby",
            functions=frozenset({"method", "singleton_method"}),
            containers=frozenset({"class", "module", "singleton_class"}),
            comment_prefix="#",
        ),
    )
}

DOC_LANGUAGES = {".md": "markdown", ".markdown": "markdown", ".rst": "rst"}
_BY_EXTENSION = {ext: spec for spec in LANGUAGES.values() for ext in spec.extensions}
_BY_FILENAME = {"Rakefile": "ruby", "Gemfile": "ruby"}


def language_for(path: str) -> str | None:
    """The language name for a repository path, or None when it is not chunked."""
    name = path.rsplit("/", 1)[-1]
    if name in _BY_FILENAME:
        return _BY_FILENAME[name]
    dot = name.rfind(".")
    suffix = name[dot:].lower() if 0 < dot < len(name) - 1 else ""  # PurePosixPath.suffix, without its cost
    if suffix in DOC_LANGUAGES:
        return DOC_LANGUAGES[suffix]
    spec = _BY_EXTENSION.get(suffix)
    return spec.name if spec else None


def parser_for(language: str) -> Any:
    """A tree-sitter Parser for `language` (one per thread: parsers are not thread-safe)."""
    cache: dict[str, Any] = _local.__dict__.setdefault("parsers", {})
    if language not in cache:
        import tree_sitter

        spec = LANGUAGES[language]
        grammar = getattr(importlib.import_module(spec.module), spec.attr)()
        cache[language] = tree_sitter.Parser(tree_sitter.Language(grammar))
    return cache[language]


# -- what the chunker asks of the nodes --------------------------------------------------------
DECLARATIONS = ("lexical_declaration", "variable_declaration")  # JS/TS: `const f = () => ...` is a function
ERROR_KIND = 0xFFFF  # the kind id of tree-sitter's recovery node (type "ERROR")


class NodeKinds:
    """A language's unit-related node types as sets of kind ids, and the field ids the chunker asks for.

    `node.kind_id` is an int where `node.type` builds a new str on every access, so the per-node tests
    compare ids; every id with a listed name counts (a grammar may alias several symbols to one name).
    """

    __slots__ = ("body", "comments", "leading", "name", "relevant", "wanted")

    def __init__(self, spec: LanguageSpec, language: Any) -> None:
        def ids(names: set[str] | frozenset[str]) -> frozenset[int]:
            return frozenset(i for i in range(language.node_kind_count) if language.node_kind_for_id(i) in names)

        self.wanted = spec.functions | spec.types | spec.containers | spec.namespaces  # names, for wrappers
        self.leading = ids(spec.comments | spec.attached)  # what may precede a unit and belong to it
        self.comments = ids(spec.comments)
        self.relevant = ids(self.wanted | spec.wrappers | set(DECLARATIONS))  # what may be (or wrap) a unit
        # child_by_field_id skips child_by_field_name's name lookup (0, no field, where a grammar lacks one).
        self.name, self.body = language.field_id_for_name("name") or 0, language.field_id_for_name("body") or 0


_KINDS: dict[str, NodeKinds] = {}


def node_kinds(language: str) -> NodeKinds:
    """The NodeKinds of `language`, built once from its grammar (the same for every thread's parser)."""
    kinds = _KINDS.get(language)
    if kinds is None:
        kinds = _KINDS[language] = NodeKinds(LANGUAGES[language], parser_for(language).language)
    return kinds


# -- names and documentation, as the grammars and languages spell them --------------------------
_NAME_NODES = {
    "identifier",
    "field_identifier",
    "qualified_identifier",
    "operator_name",
    "destructor_name",
    "type_identifier",
    "property_identifier",
    "constant",
    "scoped_identifier",
}


def unit_name(node: Any, src: bytes, name_field: int) -> str:
    """A unit's name: its `name` field (`name_field`), else what its grammar puts in its place."""
    named = node.child_by_field_id(name_field)
    if named is not None:
        return node_text(src, named)
    if node.type == "impl_item":
        typ = node_text(src, node.child_by_field_name("type")).split("<", 1)[0]
        return typ or "impl"
    if node.type == "type_declaration":
        spec_node = next((c for c in node.named_children if c.child_by_field_name("name")), None)
        return node_text(src, spec_node.child_by_field_name("name")) if spec_node else "type"
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type not in _NAME_NODES:
        declarator = declarator.child_by_field_name("declarator") or next(
            (c for c in declarator.named_children if c.type in _NAME_NODES), None
        )
    if declarator is not None:
        return node_text(src, declarator).replace("::", ".")
    return f"<anonymous@{node.start_point[0] + 1}>"


def receiver_type(node: Any, src: bytes) -> str:
    """The type a Go method is declared on (its receiver's type name), or ""."""
    receiver = node.child_by_field_name("receiver")
    stack = [receiver] if receiver is not None else []
    while stack:
        current = stack.pop(0)
        if current.type == "type_identifier":
            return node_text(src, current)
        stack.extend(current.named_children)
    return ""


def node_text(src: bytes, node: Any) -> str:
    """A node's source text ("" for no node)."""
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace") if node is not None else ""


def python_docstring(literal: str) -> str:
    """The value of a docstring literal, cleaned like inspect.getdoc does."""

    quote = literal[:1]
    if quote in ("'", '"') and "\\" not in literal and "\r" not in literal and "\0" not in literal:
        # No prefix, escape or line-ending translation: the literal's value is its inside, so the
        # compile in ast.literal_eval (most of this function's time) can be skipped.
        fence = quote * 3 if literal[:3] == quote * 3 and len(literal) >= 6 else quote
        inside = literal[len(fence) : -len(fence)]
        if (
            len(literal) >= 2
            and literal.endswith(fence)
            and fence not in inside
            and not inside.endswith(quote)
            and (len(fence) == 3 or "\n" not in inside)
        ):
            return inspect.cleandoc(inside)

    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return literal.strip("\"'rRbBuUfF ")
    return inspect.cleandoc(value) if isinstance(value, str) else ""


def comment_text(raw: str) -> str:
    """Doc comments without their comment markers."""
    lines: list[str] = []
    for line in raw.splitlines():
        line = line.strip()
        for marker in ("///", "//!", "//", "/**", "/*", "*/", "#", "*"):
            if line.startswith(marker):
                line = line[len(marker) :]
                break
        line = line.removesuffix("*/").strip()
        if line or lines:
            lines.append(line)
    return "\n".join(lines).strip()
