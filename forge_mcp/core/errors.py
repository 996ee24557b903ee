"""The one error hierarchy of forge-mcp.

Pipeline code raises these; the MCP layer turns them into tool errors (the message is written for an
agent to act on) and the CLI prints them and exits non-zero.
"""

from __future__ import annotations


class ForgeError(Exception):
    """Base class: a failure the caller can understand and act on."""


class ConfigError(ForgeError):
    """A configuration file, environment variable or argument is invalid."""


class RepoError(ForgeError):
    """The repository cannot be used as asked."""


class NotAGitRepoError(RepoError):
    """The path exists but is not inside a git work tree."""


class PathOutsideRootsError(RepoError):
    """A path points outside the repository roots the server was started with."""


class RefNotFoundError(RepoError):
    """A git ref (commit, branch, tag) does not exist in the repository."""


class StoreError(ForgeError):
    """The state store cannot be opened or is damaged."""


class NotFoundError(ForgeError):
    """A record (run, dataset, report, deployment) does not exist."""


QUOTE_LIMIT = 200


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` as it goes into an error message: repr'd, and cut to about `limit` characters (an agent may pass
    megabytes; the message must still be readable)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str | bytes) else len(text)
    return f"{text[:limit]}… ({size} characters)"
