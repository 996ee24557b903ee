"""Hostile tool calls, generated from the tools' own input schemas (seeded): what a confused or malicious
agent might send. Strings are the interesting domain (schema-valid text our code must handle: NUL bytes,
names too long for the filesystem, a megabyte ref, traversal, option and shell injection, odd Unicode);
numbers and the other types are chosen to break the schema (out of bounds, wrong type).

Every value is invalid for every tool that could start real work (training, a cycle, a deployment), so a
fuzz run never trains or deploys; the calls that legitimately succeed (a search, a read-only report) are cheap.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp.shared.exceptions import MCPError

MEGABYTE = 1_000_000

# What a call may raise instead of returning a tool result: a protocol error, or the session or its transport gone.
PROTOCOL_FAILURES = (MCPError, anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError)


def hostile_strings(outside: Path) -> list[str]:
    """Strings no tool argument may act on; `outside` is a folder beside the roots that must stay untouched."""
    return [
        "a" * 300,
        "x/" + "b" * 256 + "/c",
        "z" * MEGABYTE,
        "r" * 5000,
        "a\x00b",
        "\x00",
        "HEAD\x00--output=/tmp/pwned",
        "main\n--all",
        "\t\r\n",
        "--output=/tmp/forge-fuzz",
        "-rf",
        "--upload-pack=touch /tmp/forge-fuzz",
        "-",
        "../" * 30 + "etc/passwd",
        "..",
        "../outside",
        str(outside),
        str(outside / "config.json"),
        "/etc/passwd",
        "/",
        "~",
        "~root/.ssh/id_rsa",
        "$(touch /tmp/forge-fuzz)",
        "`id`",
        "; rm -rf ~",
        "| cat /etc/shadow",
        "gguf:/etc/passwd",
        f"gguf:{outside}/m.gguf",
        "gguf:../../../etc/passwd",
        "ollama:../../../etc/passwd",
        "ollama:" + "q" * 400,
        "ollama:a/b/c/d/e",
        "http://collector.example/steal",
        "file:///etc/passwd",
        "HEAD~99999",
        "refs/heads/" + "y" * 300,
        "v1.0^{tree}",
        "@{-1}",
        "main..evil",
        "HEAD:forge.toml",
        "😀" * 120,
        "\u202egnp.exe",
        "\ufeff",
        "%s%n%x",
        "{{7*7}}",
        "${HOME}",
        "'; DROP TABLE runs; --",
        "NUL",
        "CON",
        "aux.txt",
        "C:\\Windows\\System32",
        "\\\\server\\share",
        "null",
        "None",
        "[]",
        "{}",
        "latest/../../x",
        "run-" + "0" * 300,
        "forge://runs/x/loss",
        "*",
        "**/*",
        "[!a-z]",
        "?" * 50,
    ]


def bad_for_schema(schema: dict[str, Any], rng: random.Random) -> Any:
    """A value that breaks a non-string schema: out of its bounds, or of another type."""
    kinds = {s.get("type") for s in schema.get("anyOf", [schema])}
    options: list[Any] = [{"nested": [1, 2]}, [None, "x"], "not a number"]
    if "integer" in kinds or "number" in kinds:
        lows = [s.get("minimum") for s in schema.get("anyOf", [schema]) if s.get("minimum") is not None]
        highs = [s.get("maximum") for s in schema.get("anyOf", [schema]) if s.get("maximum") is not None]
        options += [low - 1 for low in lows] + [high + 1 for high in highs] + [2**70, -(2**70), 1.5, "1e400"]
    if "boolean" in kinds:
        options += ["yes please", 7, -3, [True]]
    if "enum" in str(schema):
        options += ["lora; rm -rf /", "DENSE", 3]
    return rng.choice(options)


@dataclass(frozen=True)
class Call:
    tool: str
    arguments: dict[str, Any]


def hostile_calls(tools: dict[str, dict[str, Any]], outside: Path, count: int, seed: int = 0) -> list[Call]:
    """`count` calls spread over the tools: each sets one to three arguments to hostile values."""
    rng = random.Random(seed)
    strings = hostile_strings(outside)
    names = sorted(tools)
    calls: list[Call] = []
    for n in range(count):
        name = names[n % len(names)]
        props: dict[str, Any] = tools[name].get("properties", {})
        chosen = rng.sample(sorted(props), k=min(len(props), rng.randint(1, 3))) if props else []
        args: dict[str, Any] = {}
        for prop in chosen:
            schema = props[prop]
            takes_text = "string" in {s.get("type") for s in schema.get("anyOf", [schema])} and "enum" not in str(
                schema
            )
            args[prop] = rng.choice(strings) if takes_text else bad_for_schema(schema, rng)
        if not args or rng.random() < 0.05:
            args["no_such_argument"] = rng.choice(strings)
        calls.append(Call(name, args))
    return calls


_BARE = re.compile(r"Error executing tool [\w-]+\s*")


def unexplained(text: str, call: Call) -> str | None:
    """Why a tool error's text fails the agent (None when it says what to change): the SDK's bare
    "Error executing tool X" (a crash whose cause stayed on the server), or an echo of a huge input."""
    if _BARE.fullmatch(text):
        return "no reason given"
    for value in call.arguments.values():
        if isinstance(value, str) and len(value) > 300 and value[:300] in text:
            return f"quotes {len(value)} characters of the input"
    if len(text) > 6000:
        return f"a {len(text)}-character message"
    return None
