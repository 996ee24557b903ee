"""The languages the chunker understands: tree-sitter grammars and which nodes are semantic units.

Grammar packages are pinned below 0.22 (0.23+ return capsules that tree-sitter 0.22, which codebleu
requires, rejects). Parsers are created lazily, once per language and thread.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from pathlib import PurePosixPath
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
            "python", (".py", ".pyi"), "tree_sitter_python",
            functions=frozenset({"function_definition"}), containers=frozenset({"class_definition"}),
            wrappers=frozenset({"decorated_definition"}), comment_prefix="#",
        ),
        LanguageSpec(
            "javascript", (".js", ".mjs", ".cjs", ".jsx"), "tree_sitter_javascript",
            functions=frozenset({"function_declaration", "generator_function_declaration", "method_definition",
                                 "lexical_declaration", "variable_declaration"}),
            containers=frozenset({"class_declaration", "class"}),
            wrappers=frozenset({"export_statement"}),
        ),
        LanguageSpec(
            "typescript", (".ts", ".mts", ".cts"), "tree_sitter_typescript", "language_typescript",
            functions=frozenset({"function_declaration", "generator_function_declaration", "method_definition",
                                 "lexical_declaration", "variable_declaration", "function_signature",
                                 "abstract_method_signature"}),
            types=frozenset({"interface_declaration", "type_alias_declaration", "enum_declaration"}),
            containers=frozenset({"class_declaration", "abstract_class_declaration"}),
            namespaces=frozenset({"internal_module", "module"}),
            wrappers=frozenset({"export_statement", "expression_statement", "ambient_declaration"}),
        ),
        LanguageSpec(
            "tsx", (".tsx",), "tree_sitter_typescript", "language_tsx",
            functions=frozenset({"function_declaration", "generator_function_declaration", "method_definition",
                                 "lexical_declaration", "variable_declaration"}),
            types=frozenset({"interface_declaration", "type_alias_declaration", "enum_declaration"}),
            containers=frozenset({"class_declaration", "abstract_class_declaration"}),
            namespaces=frozenset({"internal_module", "module"}),
            wrappers=frozenset({"export_statement", "expression_statement", "ambient_declaration"}),
        ),
        LanguageSpec(
            "go", (".go",), "tree_sitter_go",
            functions=frozenset({"function_declaration", "method_declaration"}),
            types=frozenset({"type_declaration"}),
        ),
        LanguageSpec(
            "rust", (".rs",), "tree_sitter_rust",
            functions=frozenset({"function_item", "function_signature_item", "macro_definition"}),
            types=frozenset({"struct_item", "enum_item", "type_item", "union_item", "const_item", "static_item"}),
            containers=frozenset({"impl_item", "trait_item"}),
            namespaces=frozenset({"mod_item"}),
            comments=frozenset({"line_comment", "block_comment"}),
            attached=frozenset({"attribute_item"}),
        ),
        LanguageSpec(
            "java", (".java",), "tree_sitter_java",
            functions=frozenset({"method_declaration", "constructor_declaration", "compact_constructor_declaration"}),
            containers=frozenset({"class_declaration", "interface_declaration", "enum_declaration",
                                  "record_declaration", "annotation_type_declaration"}),
            comments=frozenset({"line_comment", "block_comment"}),
        ),
        LanguageSpec(
            "c", (".c", ".h"), "tree_sitter_c",
            functions=frozenset({"function_definition"}),
            types=frozenset({"struct_specifier", "enum_specifier", "union_specifier", "type_definition"}),
        ),
        LanguageSpec(
            "cpp", (".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".ipp"), "tree_sitter_cpp",
            functions=frozenset({"function_definition"}),
            types=frozenset({"enum_specifier", "type_definition", "alias_declaration", "union_specifier"}),
            containers=frozenset({"class_specifier", "struct_specifier"}),
            namespaces=frozenset({"namespace_definition", "linkage_specification"}),
            wrappers=frozenset({"template_declaration"}),
        ),
        LanguageSpec(
            "ruby", (".rb", ".rake"), "tree_sitter_ruby",
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
    p = PurePosixPath(path)
    if p.name in _BY_FILENAME:
        return _BY_FILENAME[p.name]
    suffix = p.suffix.lower()
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
