"""miner/languages.py: which language a path is, a real tree-sitter parser per language, and the helpers the
chunker uses on its nodes (names, Go receivers, docstrings, doc comments)."""

from __future__ import annotations

import inspect

import pytest

from forge_mcp.miner.languages import (
    LANGUAGES,
    comment_text,
    language_for,
    node_kinds,
    node_text,
    parser_for,
    python_docstring,
    receiver_type,
    unit_name,
)


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("src/app.py", "python"),
        ("stubs/x.pyi", "python"),
        ("A/B.PY", "python"),
        ("web/a.mjs", "javascript"),
        ("web/a.tsx", "tsx"),
        ("web/a.ts", "typescript"),
        ("inc/a.h", "c"),
        ("inc/a.hpp", "cpp"),
        ("a.rs", "rust"),
        ("Rakefile", "ruby"),
        ("lib/Gemfile", "ruby"),
        ("docs/x.md", "markdown"),
        ("docs/x.rst", "rst"),
        ("README", None),
        (".bashrc", None),
        ("trailing.", None),
        ("data.json", None),
    ],
)
def test_language_for(path: str, language: str | None) -> None:
    assert language_for(path) == language


def test_every_language_parses_with_its_grammar() -> None:
    samples = {"python": b"def f():\n    pass\n", "go": b"package main\nfunc f() {}\n", "ruby": b"def f\nend\n"}
    for name in LANGUAGES:
        parser = parser_for(name)
        assert parser is parser_for(name)  # one per thread, reused
        tree = parser.parse(samples.get(name, b"int f() { return 1; }\n"))
        assert tree.root_node.child_count >= 1, name


def _first(language: str, src: bytes, kind: str):
    stack = [parser_for(language).parse(src).root_node]
    while stack:
        node = stack.pop(0)
        if node.type == kind:
            return node
        stack.extend(node.children)
    raise AssertionError(kind)


def test_unit_names_and_go_receivers() -> None:
    src = b"package main\n\nfunc (s *Server) Serve(port int) error {\n\treturn nil\n}\n"
    method = _first("go", src, "method_declaration")
    assert unit_name(method, src, node_kinds("go").name) == "Serve" and receiver_type(method, src) == "Server"
    assert receiver_type(_first("go", b"package m\nfunc F() {}\n", "function_declaration"), src) == ""
    cpp = b"int Stack::push(int x) { return x; }\n"
    assert unit_name(_first("cpp", cpp, "function_definition"), cpp, node_kinds("cpp").name) == "Stack.push"
    rust = b"impl<T> Stack<T> { fn push(&mut self) {} }\n"
    assert unit_name(_first("rust", rust, "impl_item"), rust, node_kinds("rust").name) == "Stack"
    assert node_text(src, None) == "" and node_text(src, method).startswith("func (s *Server)")


def test_python_docstrings_are_cleaned_like_getdoc() -> None:
    assert python_docstring('"""Summary.\n\n    Indented more.\n    """') == "Summary.\n\nIndented more."
    assert python_docstring("'one line'") == "one line"
    assert python_docstring('r"""Raw \\d."""') == "Raw \\d."
    assert python_docstring('"""Escaped \\t tab."""') == inspect.cleandoc("Escaped \t tab.")  # tabs expanded
    assert python_docstring('b"bytes"') == ""
    assert python_docstring('"""never closed') == "never closed"


def test_comment_text_drops_the_markers() -> None:
    assert comment_text("/**\n * Adds two numbers.\n * @param a\n */") == "Adds two numbers.\n@param a"
    assert comment_text("/// Rust doc.\n/// More.") == "Rust doc.\nMore."
    assert comment_text("# Ruby comment") == "Ruby comment" and comment_text("// c\n//") == "c"
