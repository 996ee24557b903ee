"""The one error hierarchy of forge-mcp.

Pipeline code raises these; the MCP layer turns them into tool errors (the message is written for an
agent to act on) and the CLI prints them and exits non-zero.
"""

from __future__ import annotations

# -- The foundation: settings, repositories, the state store, records ------------------------------------


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


# -- train/: base models, the hardware plan, runs --------------------------------------------------------


class GGUFImportError(ForgeError):
    """A GGUF cannot be used as a base model as asked (missing, unreadable, unsupported, failed parity)."""


class GGUFNotFoundError(GGUFImportError, NotFoundError):
    """The named GGUF file or Ollama model does not exist where it was looked for."""


class TokenizerImportError(ForgeError):
    """The GGUF's vocabulary cannot be rebuilt exactly (re-raised by the importer as GGUFImportError)."""


class PlanError(ForgeError):
    """A training configuration does not fit this machine (the message gives the numbers)."""


class JobError(ForgeError):
    """A run cannot be started, resumed or cancelled as asked."""


# -- index/: the embedder, the vector store, search, adaptation ------------------------------------------


class EmbedderError(ForgeError):
    """The embedder cannot run (not installed, server unreachable, model missing)."""


class IndexMismatchError(ForgeError):
    """The index was built with another embedder; it must be rebuilt before use."""


class SearchError(ForgeError):
    """A query the index cannot answer as asked (empty, too long, bad filter)."""


class AdaptError(ForgeError):
    """The embedder cannot be adapted as asked (too few pairs, a settings problem, the worker failed)."""


# -- judge/ ----------------------------------------------------------------------------------------------


class JudgeError(ForgeError):
    """The judge cannot score as asked (no examples, an unsupported language)."""


# -- deploy/: export, chat templates, targets ------------------------------------------------------------


class ExportError(ForgeError):
    """The model cannot be exported as asked (architecture, tokenizer, quantized input, llama.cpp failure)."""


class TemplateError(ForgeError):
    """The chat template has no known Ollama equivalent and none was configured."""


class DeployError(ForgeError):
    """A deployment or rollback did not happen (unreachable server, refused upload, invalid name, failed check)."""


# -- cycle/ ----------------------------------------------------------------------------------------------


class CycleError(ForgeError):
    """A cycle cannot start (another one is running for the repository)."""


QUOTE_LIMIT = 200


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` as it goes into an error message: repr'd, and cut to about `limit` characters (an agent may pass
    megabytes; the message must still be readable)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str | bytes) else len(text)
    return f"{text[:limit]}… ({size} characters)"


def ollama_failures() -> tuple[type[Exception], ...]:
    """What a call to an Ollama server can raise: unreachable (ConnectionError, httpx errors), an error answer
    (ResponseError), a refused request (RequestError), or a reply that does not parse (ValueError)."""
    import httpx  # lazy: with its CLI extras it costs ~60 ms at start-up
    import ollama

    return (ConnectionError, httpx.HTTPError, ollama.ResponseError, ollama.RequestError, ValueError)
