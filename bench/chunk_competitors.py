"""Chunk a list of files with a competing code chunker; run with the *competitor* venv's python.

    /tmp/bench-competitors-venv/bin/python bench/chunk_competitors.py \
        --files LISTFILE --tool llamaindex|astchunk|parse [--chunk-chars 2000]

LISTFILE holds one absolute path per line (UTF-8 files; `bench/chunking.py` writes it). Every file is
read and decoded before the clock starts; only the chunking loop is timed (not imports, not the
chunker's construction, not reading). A file the tool raises on counts as an error and the loop goes on.
Prints one JSON line: {"tool", "version", "files", "bytes", "seconds", "cpu", "chunks", "errors",
"error_examples"} (seconds: wall clock; cpu: process CPU time of the same loop).

Settings, chosen to match forge-mcp's `chunk_code(..., budget=2000)` as closely as each tool allows:

* llamaindex: `llama_index.core.node_parser.CodeSplitter(language="python", max_chars=N,
  chunk_lines=10_000, count_mode="char", parser=<tree_sitter.Parser(tree_sitter_python)>)`, timed
  through `split_text(text)`. Its budget counts all characters (whitespace included), so at the same N
  its chunks hold somewhat less code than forge's. The parser is passed in explicitly so no grammar is
  downloaded at run time (tree-sitter-language-pack 1.x would); a character-count tokenizer is passed
  so tiktoken is never loaded (it is unused in char mode).
* astchunk: `astchunk.ASTChunkBuilder(max_chunk_size=N, language="python", metadata_template="default")`,
  timed through `chunkify(text, repo_level_metadata={"filepath": path})`. Its unit is non-whitespace
  characters, the same as forge's budget.
* parse: not a chunker, the bare `tree_sitter.Parser.parse(text.encode())` of this venv's tree-sitter,
  as a floor (both competitors start with it; `text.encode()` is inside their timed calls too).

This file must not import forge_mcp (the two venvs pin different tree-sitter versions).
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

import argparse
import json
import time
from collections.abc import Callable
from importlib import metadata


def make_llamaindex(chunk_chars: int) -> tuple[Callable[[str, str], int], str]:
    import tree_sitter
    import tree_sitter_python
    from llama_index.core.node_parser import CodeSplitter

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))
    splitter = CodeSplitter(
        language="python",
        chunk_lines=10_000,
        max_chars=chunk_chars,
        count_mode="char",
        tokenizer=lambda s: list(s),
        parser=parser,
    )

    def run(path: str, text: str) -> int:
        return len(splitter.split_text(text))

    version = (
        f"llama-index-core {metadata.version('llama-index-core')}, tree-sitter "
        f"{metadata.version('tree-sitter')}, tree-sitter-python {metadata.version('tree-sitter-python')}"
    )
    return run, version


def make_astchunk(chunk_chars: int) -> tuple[Callable[[str, str], int], str]:
    from astchunk import ASTChunkBuilder

    builder = ASTChunkBuilder(max_chunk_size=chunk_chars, language="python", metadata_template="default")

    def run(path: str, text: str) -> int:
        return len(builder.chunkify(text, repo_level_metadata={"filepath": path}))

    version = (
        f"astchunk {metadata.version('astchunk')}, tree-sitter {metadata.version('tree-sitter')}, "
        f"tree-sitter-python {metadata.version('tree-sitter-python')}"
    )
    return run, version


def make_parse(chunk_chars: int) -> tuple[Callable[[str, str], int], str]:
    """Not a chunker: the bare tree-sitter parse both competitors start with (the floor for this venv)."""
    import tree_sitter
    import tree_sitter_python

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))

    def run(path: str, text: str) -> int:
        parser.parse(text.encode("utf-8"))
        return 0

    version = (
        f"tree-sitter {metadata.version('tree-sitter')}, tree-sitter-python {metadata.version('tree-sitter-python')}"
    )
    return run, version


TOOLS = {"llamaindex": make_llamaindex, "astchunk": make_astchunk, "parse": make_parse}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", required=True, help="a file with one path per line")
    ap.add_argument("--tool", required=True, choices=sorted(TOOLS))
    ap.add_argument("--chunk-chars", type=int, default=2000)
    args = ap.parse_args()

    paths = [line for line in open(args.files, encoding="utf-8").read().splitlines() if line]
    texts: list[tuple[str, str]] = []
    total_bytes = 0
    for path in paths:
        data = open(path, "rb").read()
        texts.append((path, data.decode("utf-8")))
        total_bytes += len(data)

    run, version = TOOLS[args.tool](args.chunk_chars)
    run("warmup.py", "def f(x):\n    return x\n")  # first-call costs (lazy imports) stay out of the clock

    chunks = errors = 0
    examples: list[str] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for path, text in texts:
        try:
            chunks += run(path, text)
        except Exception as exc:  # count and go on, as the brief says
            errors += 1
            if len(examples) < 5:
                examples.append(f"{path}: {type(exc).__name__}: {str(exc)[:120]}")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    print(
        json.dumps(
            {
                "tool": args.tool,
                "version": version,
                "files": len(texts),
                "bytes": total_bytes,
                "seconds": seconds,
                "cpu": cpu,
                "chunks": chunks,
                "errors": errors,
                "error_examples": examples,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
