"""The tree's shape, counted: top-level modules, imports inside functions (and of the project's own modules),
import cycles, pragmas, and modules with behaviour but no test module of their name.

    python bench/tree.py [ROOT]        # ROOT: a checkout (default: this one), e.g. an older worktree to compare

The rules themselves are tests (tests/test_architecture.py); this prints the figures for a closing note.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

PRAGMA = re.compile(r"#\s*(noqa|type:\s*ignore)")


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted((root / "forge_mcp").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported(node: ast.Import | ast.ImportFrom, module: str, mods: dict[str, Path]) -> set[str]:
    """The project's modules an import names (relative imports resolved; `from pkg import mod` is the module)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            here = module.split(".") if mods[module].name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
        names = [f"{base}.{a.name}" for a in node.names] + [base]
    found = set()
    for name in names:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
    mods = modules(root)
    edges: dict[str, set[str]] = defaultdict(set)
    late = late_own = 0
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inside = {
            id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets = imported(node, name, mods)
                edges[name] |= targets
                if id(node) in inside:
                    late += 1
                    late_own += bool(targets)
    tests = {p.stem for p in (root / "tests").rglob("test_*.py")}
    untested = [
        n
        for n, p in mods.items()
        if p.name not in ("__init__.py", "__main__.py")
        and re.search(r"^\s*(def|class|async def) ", p.read_text(encoding="utf-8"), re.M)
        and f"test_{p.stem}" not in tests
    ]
    pragmas = {
        d: sum(len(PRAGMA.findall(p.read_text(encoding="utf-8"))) for p in (root / d).rglob("*.py"))
        for d in ("forge_mcp", "tests", "bench")
        if (root / d).is_dir()
    }
    top = sorted(p.name for p in (root / "forge_mcp").glob("*.py") if p.name != "__init__.py")
    found = cycles(edges)
    print(f"modules: {sum(p.name != '__init__.py' for p in mods.values())}")
    print(f"top-level modules: {len(top)} ({', '.join(top)})")
    print(f"imports inside functions: {late}, of the project's own modules: {late_own}")
    print(f"import cycles: {len(found)}" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    print("pragmas (noqa, type: ignore): " + ", ".join(f"{d} {n}" for d, n in pragmas.items()))
    print(f"modules with behaviour and no test module of their name: {len(untested)}")
    print("  " + " ".join(u.removeprefix("forge_mcp.") for u in untested))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
