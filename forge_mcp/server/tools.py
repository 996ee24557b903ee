"""MCP tools: typed signatures over pipeline functions. Errors become tool errors an agent can act on."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import anyio
import anyio.from_thread
import anyio.to_thread
import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from forge_mcp.core.errors import ForgeError, quoted
from forge_mcp.core.kinds import SearchMode
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.adapt import sync_and_adapt
from forge_mcp.index.rag import DEFAULT_K, DEFAULT_MODE
from forge_mcp.index.records import SearchHit, SyncReport
from forge_mcp.miner.datasets import DatasetSummary, build_dataset
from forge_mcp.miner.mine import DEFAULT_REF
from forge_mcp.miner.teacher import teacher_for
from forge_mcp.monitor.changes import MonitorReport, monitor
from forge_mcp.server.services import Forge

log = logging.getLogger(__name__)


class SearchResult(BaseModel):
    """Hits best first, with where each came from in the two rankings."""

    query: str
    mode: str
    hits: list[SearchHit]


RepoArg = Annotated[
    str | None,
    Field(
        max_length=4096,
        description="Repository path: absolute, or relative to the server's first root. Omit for the first root.",
    ),
]


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn forge errors into tool errors (is_error=True with the message), never protocol failures."""
    try:
        yield
    except ForgeError as exc:
        raise ToolError(_capped(str(exc))) from exc
    except OSError as exc:  # the filesystem refused something the input asked for: say what, and where
        where = f" ({quoted(exc.filename)})" if exc.filename else ""
        log.info("tool failed on an OS error", exc_info=True)
        raise ToolError(
            f"the operating system refused: {exc.strerror or exc}{where}; check the path, its length and permissions"
        ) from exc


def _capped(message: str, limit: int = 4000) -> str:
    return message if len(message) <= limit else f"{message[:limit]}… ({len(message)} characters)"


def tool_annotations(
    title: str, read_only: bool, idempotent: bool = True, destructive: bool = False, open_world: bool = False
) -> types.ToolAnnotations:
    """Forge tools work on local state and delete nothing the user made; deploying replaces what a model
    server serves (destructive) and may talk to an Ollama server (open world)."""
    return types.ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


def progress_reporter(ctx: Context) -> Callable[[int, int, str], None]:
    """A pipeline progress callback (called on a worker thread) that sends MCP progress notifications."""

    def report(done: int, total: int, message: str) -> None:
        anyio.from_thread.run(ctx.report_progress, done, total, message)

    return report


def across_repos(forge: Forge, rows: Callable[[Workspace], list[dict[str, object]]]) -> str:
    """A listing resource: each git repository's rows, tagged with the repository's name, as JSON."""

    found: list[dict[str, object]] = []
    with tool_errors():
        for entry in forge.repos.values():
            if entry.is_git:
                found += [{"repo": entry.name, **row} for row in rows(forge.workspace(str(entry.path)))]
    return json.dumps(found, indent=2)


def forge_tool(server: MCPServer, hints: types.ToolAnnotations) -> Callable[[Callable[..., object]], object]:
    """Register a tool; its description is the docstring, dedented (agents read it cold)."""

    def register(fn: Callable[..., object]) -> object:
        return server.tool(description=inspect.cleandoc(fn.__doc__ or ""), annotations=hints)(fn)

    return register


def register_tools(server: MCPServer, forge: Forge) -> None:
    @forge_tool(server, tool_annotations("What changed since the last trained model", read_only=True))
    def monitor_repo(
        repo: RepoArg = None,
        since: Annotated[
            str | None,
            Field(
                max_length=1024,
                description="Compare against this commit, branch or tag instead of the last trained commit.",
            ),
        ] = None,
        max_commits: Annotated[
            int | None, Field(ge=0, le=10_000, description="How many commits to list (all are counted). Default 50.")
        ] = None,
    ) -> MonitorReport:
        """Report what changed in a repository since the last trained commit (or `since`).

        Returns the commits, changed/added/deleted/renamed files with line totals, new tags, the
        working-tree status (staged, modified, untracked), recent file-watcher events, and a
        `significance` verdict with its reasons: whether the change is big enough to retrain on
        (defaults: 10 changed files or a new tag; set in forge.toml [monitor]).
        Call this first, and again after the user commits; it is read-only and fast.
        """
        with tool_errors():
            return monitor(forge.workspace(repo), since=since, max_commits=max_commits)

    @forge_tool(server, tool_annotations("Chunk the code and build fine-tuning datasets", read_only=False))
    async def chunk_data(
        ctx: Context,
        repo: RepoArg = None,
        ref: Annotated[
            str, Field(max_length=1024, description="Commit, branch or tag to read the code at.")
        ] = DEFAULT_REF,
        force: Annotated[bool, Field(description="Rebuild even if an identical dataset exists.")] = False,
        teacher_model: Annotated[
            str | None,
            Field(
                description="Ollama model that writes RAFT questions/reasoning (default: forge.toml "
                "[miner] teacher_model; templated when unset or unreachable)."
            ),
        ] = None,
    ) -> DatasetSummary:
        """Chunk a repository's code with tree-sitter and build its fine-tuning datasets.

        Reads the tracked files at `ref` (default HEAD): functions, methods, classes and docs become
        chunks; binary, generated, vendored, minified, huge and secret files are skipped with reasons,
        and secrets inside code are redacted. Writes completion, instruction, RAFT and text datasets
        (mlx-lm JSONL: train/valid/test), with units touched by the most recent commits held out as
        the test set. Returns counts per language and kind, skipped files, split sizes and the
        `dataset_id` (identical inputs return the stored dataset at once). Reports progress.
        """
        with tool_errors():
            ws = forge.workspace(repo)

            teacher, progress = teacher_for(ws, teacher_model), progress_reporter(ctx)
            return await anyio.to_thread.run_sync(
                lambda: build_dataset(ws, ref, force=force, progress=progress, teacher=teacher)
            )

    @forge_tool(server, tool_annotations("Build or refresh the code search index", read_only=False))
    async def index_repo(
        ctx: Context,
        repo: RepoArg = None,
        rebuild: Annotated[
            bool,
            Field(description="Drop the index and build it again (e.g. after changing the embedder in forge.toml)."),
        ] = False,
        adapt: Annotated[
            bool | None,
            Field(
                description="Also fine-tune the embedder on pairs mined from the "
                "repository (docstrings, comments, doc headings -> code) "
                "in a worker, then re-embed the index with it: minutes. "
                "Default: forge.toml [index] adapt (off)"
            ),
        ] = None,
    ) -> SyncReport:
        """Build the repository's search index, or bring it up to date, for `rag_search`.

        Indexes the working tree (committed or not; .gitignore respected; the Miner's skip rules and
        secret redaction apply): function/class chunks embedded offline (MiniLM by default) into ChromaDB,
        plus a BM25 index over identifier tokens. Incremental: only files whose content changed are
        re-read and only new chunks embedded; a full run also repairs any drift left by a crash. The
        first build embeds every chunk (roughly a minute per 1,000 chunks on a laptop CPU); after that
        the file watcher keeps the index fresh by itself. With `adapt`, the embedder is then adapted to
        the repository (a time-budgeted contrastive fine-tune, about 5 minutes on a laptop CPU; the same
        pairs reuse the model) and the index re-embedded while searches keep the old vectors until the
        new ones are complete; `adaptation` reports pairs, plan and training. Reports progress.
        """
        with tool_errors():
            ws, progress = forge.workspace(repo), progress_reporter(ctx)

            def run() -> SyncReport:

                return sync_and_adapt(forge.rag(ws, rebuild=rebuild), adapt, progress)

            return await anyio.to_thread.run_sync(run)

    @forge_tool(server, tool_annotations("Search the repository's code", read_only=True))
    async def rag_search(
        query: Annotated[str, Field(description="What you are looking for, in words or code identifiers.")],
        k: Annotated[int, Field(ge=1, le=100, description="How many results.")] = DEFAULT_K,
        mode: Annotated[
            SearchMode,
            Field(description="hybrid (default: dense + BM25 fused), dense or lexical."),
        ] = DEFAULT_MODE,
        language: Annotated[str | None, Field(description="Only this language, e.g. python, typescript.")] = None,
        path_glob: Annotated[
            str | None, Field(description="Only paths matching this glob, e.g. 'src/**/*.py'.")
        ] = None,
        kind: Annotated[
            str | None,
            Field(description="Only this kind: function, method, class, type, namespace, module or section."),
        ] = None,
        repo: RepoArg = None,
    ) -> SearchResult:
        """Search the repository's code and docs: hybrid semantic + keyword search over chunks.

        Each hit has the path, line range, qualified symbol, kind, language, score, its ranks in the
        dense and lexical lists, and the chunk's text. The index follows the working tree (the watcher
        re-indexes changed files within about a second); build it once with `index_repo`.
        """
        with tool_errors():
            ws = forge.workspace(repo)

            def run() -> list[SearchHit]:
                return forge.rag(ws).search(query, k=k, mode=mode, language=language, path_glob=path_glob, kind=kind)

            return SearchResult(query=query, mode=mode, hits=await anyio.to_thread.run_sync(run))
