"""Chunking real source files in every supported language, nasty ones included."""

from __future__ import annotations

import pytest

from forge_mcp.miner.chunker import Chunk, chunk_code, nws


def _tiles(src: bytes, chunks: list[Chunk]) -> bool:
    """The chunks' byte spans cover the file exactly once, in order."""
    pos = 0
    for s, e in sorted(span for c in chunks for span in c.spans):
        if s != pos:
            return False
        pos = e
    return pos == len(src)


def _symbols(chunks: list[Chunk]) -> dict[str, str]:
    return {c.symbol: c.kind for c in chunks if c.symbol}


PYTHON = '''"""Module doc."""
import os


def plain(x):
    """Return x doubled."""
    return x * 2


@decorator
@other(arg=1)
def decorated():
    pass


class Outer(Base):
    """An outer class."""

    attr = 1

    def method(self):
        return self.attr

    class Inner:
        def deep(self):
            def nested():
                return 1
            return nested()

    @property
    def prop(self):
        return "ünïcödé ✓"


if __name__ == "__main__":
    plain(1)
'''


def test_python_units_decorators_docstrings_nesting() -> None:
    src = PYTHON.encode()
    chunks = chunk_code("pkg/mod.py", src, "python")
    assert _tiles(src, chunks)
    assert _symbols(chunks) == {
        "plain": "function",
        "decorated": "function",
        "Outer": "class",
        "Outer.method": "method",
        "Outer.Inner": "class",
        "Outer.Inner.deep": "method",
        "Outer.prop": "method",
    }
    by = {c.symbol: c for c in chunks}
    assert by["Outer.method"].text.startswith("    def method(self):")
    assert by["decorated"].text.startswith("@decorator\n@other(arg=1)\ndef decorated")
    assert by["plain"].docstring == "Return x doubled."
    assert by["plain"].text[: by["plain"].signature_end].endswith('"""Return x doubled."""')
    assert by["Outer"].docstring == "An outer class."
    assert "def nested" in by["Outer.Inner.deep"].text  # nested functions stay inside their parent
    assert "ünïcödé ✓" in by["Outer.prop"].text
    assert by["Outer.prop"].header == "# pkg/mod.py / Outer.prop"
    module = [c for c in chunks if c.kind == "module"]
    assert any("import os" in c.text for c in module) and any("__main__" in c.text for c in module)
    assert by["Outer.method"].start_line == 21 and by["Outer.method"].end_line == 22
    assert all(c.content_hash and len(c.id) == 20 for c in chunks)


def test_crlf_and_syntax_errors_never_lose_content() -> None:
    src = PYTHON.replace("\n", "\r\n").encode()
    chunks = chunk_code("crlf.py", src, "python")
    assert _tiles(src, chunks)
    assert "Outer.method" in _symbols(chunks)
    broken = b"def ok():\n    return 1\n\ndef broken(:\n    x = = 2\n\nclass Fine:\n    def m(self): pass\n"
    chunks = chunk_code("broken.py", broken, "python")
    assert _tiles(broken, chunks)
    assert all(c.has_errors for c in chunks)
    assert "ok" in _symbols(chunks) and {"Fine.m", "m"} & set(_symbols(chunks))


@pytest.mark.parametrize(
    ("lang", "path", "src", "expected"),
    [
        (
            "javascript",
            "a.js",
            b"""// Adds two numbers.
function add(a, b) { return a + b; }
/** A widget. */
class Widget extends Base {
  constructor(x) { super(); this.x = x; }
  render() { return `<p>${this.x}</p>`; }
}
export const double = (x) => x * 2;
export default class Main {}
module.exports = { add };
""",
            {
                "add": "function",
                "Widget": "class",
                "Widget.constructor": "method",
                "Widget.render": "method",
                "double": "function",
                "Main": "class",
            },
        ),
        (
            "typescript",
            "a.ts",
            b"""interface Point { x: number }
type Id = string;
export abstract class Shape<T> implements Point { x = 1; abstract area(): number; protected scale(f: number): void {} }
export async function load(id: Id): Promise<void> {}
namespace Geo { export function dist(): number { return 0; } }
""",
            {
                "Point": "type",
                "Id": "type",
                "Shape": "class",
                "Shape.area": "method",
                "Shape.scale": "method",
                "load": "function",
                "Geo": "namespace",
                "Geo.dist": "function",
            },
        ),
        (
            "go",
            "a.go",
            b"""package main

// Add adds.
func Add(a, b int) int { return a + b }

type Stack struct { items []int }

func (s *Stack) Push(x int) { s.items = append(s.items, x) }
""",
            {"Add": "function", "Stack": "type", "Stack.Push": "method"},
        ),
        (
            "rust",
            "a.rs",
            b"""/// A point.
#[derive(Debug)]
pub struct Point { x: i32 }

impl Point {
    /// Makes one.
    pub fn new() -> Self { Point { x: 0 } }
}

trait Shape { fn area(&self) -> f64; fn name(&self) -> &str { "shape" } }

mod util { pub fn helper() {} }

fn main() {}
""",
            {
                "Point": "class",
                "Point.new": "method",
                "Shape": "class",
                "Shape.area": "method",
                "Shape.name": "method",
                "util": "namespace",
                "util.helper": "function",
                "main": "function",
            },
        ),
        (
            "java",
            "A.java",
            b"""package p;

/** Doc. */
public class Account extends Base {
  private int balance;
  @Override public String toString() { return ""; }
  Account() {}
  interface Listener { void changed(); }
}
""",
            {
                "Account": "class",
                "Account.toString": "method",
                "Account.Account": "method",
                "Account.Listener": "class",
                "Account.Listener.changed": "method",
            },
        ),
        (
            "c",
            "a.c",
            b"""#include <stdio.h>

/* Adds. */
static int add(int a, int b) { return a + b; }

struct point { int x; };

typedef struct { int y; } Pair;

int *make(void) { return 0; }
""",
            {"add": "function", "point": "type", "Pair": "type", "make": "function"},
        ),
        (
            "cpp",
            "a.cpp",
            b"""namespace geo {
class Circle : public Shape {
 public:
  double area() const { return 3.14 * r * r; }
 private:
  double r;
};
double Circle::perimeter() const { return 2 * 3.14 * r; }
template <typename T> T id(T x) { return x; }
}
""",
            {
                "geo": "namespace",
                "geo.Circle": "class",
                "geo.Circle.area": "method",
                "geo.Circle.perimeter": "function",
                "geo.id": "function",
            },
        ),
        (
            "ruby",
            "a.rb",
            b"""# A greeter.
class Greeter < Base
  def initialize(name)
    @name = name
  end

  def self.build
    new("x")
  end
end

module Util
  def helper; end
end
""",
            {
                "Greeter": "class",
                "Greeter.initialize": "method",
                "Greeter.build": "method",
                "Util": "class",
                "Util.helper": "method",
            },
        ),
    ],
)
def test_each_language(lang: str, path: str, src: bytes, expected: dict[str, str]) -> None:
    chunks = chunk_code(path, src, lang)
    assert _tiles(src, chunks)
    assert _symbols(chunks) == expected
    assert all(c.language == lang and c.path == path for c in chunks)


def test_doc_comments_are_attached_to_the_unit() -> None:
    chunks = chunk_code("a.go", b"package main\n\n// Add adds.\n// Two lines.\nfunc Add() {}\n", "go")
    add = next(c for c in chunks if c.symbol == "Add")
    assert add.text.startswith("// Add adds.") and add.docstring == "Add adds.\nTwo lines."
    detached = chunk_code("b.go", b"package main\n\n// License header.\n\nfunc F() {}\n", "go")
    assert next(c for c in detached if c.symbol == "F").docstring is None


def test_oversized_units_split_at_child_boundaries() -> None:
    body = "".join(f"    value_{i} = compute_something({i}, factor={i * 3})\n" for i in range(300))
    src = f'def huge():\n    """Big."""\n{body}    return value_1\n\n\ndef small():\n    return 1\n'.encode()
    chunks = chunk_code("big.py", src, "python", budget=800)
    assert _tiles(src, chunks)
    parts = [c for c in chunks if c.symbol == "huge"]
    assert len(parts) > 5 and [c.part for c in parts] == list(range(1, len(parts) + 1))
    assert all(c.parts == len(parts) for c in parts)
    assert all(nws(c.text.encode(), 0, len(c.text.encode())) <= 800 for c in parts)
    assert all(c.text.endswith("\n") or c is parts[-1] for c in parts)  # cut between statements
    assert parts[0].docstring == "Big." and parts[1].docstring is None


def test_one_enormous_line_is_still_covered() -> None:
    src = ("x = '" + "é" * 20_000 + "'\n").encode()
    chunks = chunk_code("wide.py", src, "python", budget=500)
    assert _tiles(src, chunks) and len(chunks) > 10
    assert "".join(c.text for c in chunks) == src.decode()  # no cut inside a UTF-8 sequence
