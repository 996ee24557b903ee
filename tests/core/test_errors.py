"""core/errors.py: one hierarchy under ForgeError, and `quoted` for values that go into messages."""

from __future__ import annotations

import inspect

from forge_mcp.core import errors
from forge_mcp.core.errors import (
    QUOTE_LIMIT,
    ForgeError,
    GGUFImportError,
    GGUFNotFoundError,
    NotAGitRepoError,
    NotFoundError,
    RepoError,
    quoted,
)


def test_every_error_is_a_forge_error_with_a_docstring() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert len(classes) > 10
    for cls in classes:
        assert issubclass(cls, ForgeError) and cls.__doc__, cls
    assert issubclass(NotAGitRepoError, RepoError)
    assert issubclass(GGUFNotFoundError, GGUFImportError) and issubclass(GGUFNotFoundError, NotFoundError)


def test_quoted_reprs_and_cuts_long_values() -> None:
    assert quoted("abc") == "'abc'" and quoted(42) == "42" and quoted(None) == "None"
    long = "x" * 10_000
    text = quoted(long)
    assert text.startswith("'xxx") and text.endswith("… (10000 characters)") and len(text) < QUOTE_LIMIT + 30
    assert quoted(b"y" * 500).endswith("… (500 characters)")
    assert quoted(list(range(1000)), limit=20) == "[0, 1, 2, 3, 4, 5, 6… (4890 characters)"  # the repr's length
    assert quoted("a\nb") == "'a\\nb'"  # control characters cannot break the message's lines
