"""The human CLI, over the same functions the MCP tools call.

forge-mcp serve [--repo PATH ...] [--http --port N --token-file F] [--no-watch]
forge-mcp status [--repo PATH] [--since REF] [--json]
forge-mcp watch  [--repo PATH]
forge-mcp events [--repo PATH] [-n N] [--json]
forge-mcp chunk  [--repo PATH] [--ref REF] [--force] [--json]
forge-mcp index  [--repo PATH] [--rebuild] [--adapt] [--json]
forge-mcp search QUERY [--repo PATH] [-k N] [--mode M] [--language L] [--path GLOB] [--kind K]
forge-mcp train  [--repo PATH] [--method M] [--base-model B] [--iters N] ... [--resume RUN_ID] [--detach]
forge-mcp runs   [--repo PATH] [--json]
forge-mcp config [--repo PATH]
(and validate, deploy, rollback, stop, deployments, cycle: cli/loop.py; doctor, skills: cli/admin.py)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import get_args

from forge_mcp import __version__
from forge_mcp.cli import admin as cli_admin
from forge_mcp.cli import loop as cli_loop
from forge_mcp.cli.render import console, follow_run, progress_bar, render_dataset, render_report
from forge_mcp.core.config import MODEL_DIRS_ENV
from forge_mcp.core.errors import ForgeError
from forge_mcp.core.kinds import Method, SearchMode, Task
from forge_mcp.core.workspace import Workspace
from forge_mcp.index.adapt import sync_and_adapt
from forge_mcp.index.rag import DEFAULT_K, DEFAULT_MODE, RagIndex
from forge_mcp.miner.datasets import build_dataset
from forge_mcp.miner.mine import DEFAULT_REF
from forge_mcp.miner.teacher import teacher_for
from forge_mcp.monitor.changes import monitor, recent_events
from forge_mcp.monitor.watcher import Batch, RepoWatcher
from forge_mcp.server.app import serve
from forge_mcp.train.jobs import list_runs, resume_run
from forge_mcp.train.trigger import trigger_planned


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forge-mcp", description="A local AI forge for one code repository, over MCP."
    )
    parser.add_argument("--version", action="version", version=f"forge-mcp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    parser.add_argument(
        "--model-dir",
        action="append",
        type=Path,
        metavar="DIR",
        dest="model_dirs",
        help="a folder outside the repository that base models may be read from (repeatable; or "
        "FORGE_MODEL_DIRS); a --base-model path given here is allowed by itself",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    serve.add_argument(
        "--repo", action="append", type=Path, help="repository root (repeatable; default: the current folder)"
    )
    serve.add_argument(
        "--http", action="store_true", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio"
    )
    serve.add_argument("--host", help="HTTP bind address (default 127.0.0.1; any other host needs --token)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8765)")
    serve.add_argument(
        "--token",
        help="bearer token clients must send over HTTP (visible in the process list: "
        "prefer --token-file or FORGE_SERVER__TOKEN)",
    )
    serve.add_argument("--token-file", type=Path, help="a file holding the bearer token (or FORGE_SERVER__TOKEN_FILE)")
    serve.add_argument("--no-watch", action="store_true", help="do not start the file watcher")

    status = sub.add_parser("status", help="what changed since the last trained commit, and is it significant")
    status.add_argument("--repo", type=Path, default=Path("."), help="repository (default: the current folder)")
    status.add_argument("--since", help="compare against this ref instead of the last trained commit")
    status.add_argument("--json", action="store_true", help="print the report as JSON")

    watch = sub.add_parser("watch", help="watch the work tree and print debounced change batches")
    watch.add_argument("--repo", type=Path, default=Path("."))

    events = sub.add_parser("events", help="recent watcher events")
    events.add_argument("--repo", type=Path, default=Path("."))
    events.add_argument("-n", type=int, default=30, help="how many (default 30)")
    events.add_argument("--json", action="store_true")

    chunk = sub.add_parser("chunk", help="chunk the code and build the fine-tuning datasets")
    chunk.add_argument("--repo", type=Path, default=Path("."))
    chunk.add_argument("--ref", default=DEFAULT_REF, help=f"commit, branch or tag to read (default {DEFAULT_REF})")
    chunk.add_argument("--force", action="store_true", help="rebuild even if an identical dataset exists")
    chunk.add_argument("--teacher-model", help="Ollama model that writes RAFT questions and reasoning")
    chunk.add_argument("--json", action="store_true", help="print the summary as JSON")

    index = sub.add_parser("index", help="build or refresh the code search index")
    index.add_argument("--repo", type=Path, default=Path("."))
    index.add_argument("--rebuild", action="store_true", help="drop the index and build it again")
    index.add_argument(
        "--adapt",
        action="store_true",
        default=None,
        help="also adapt the embedder to the repository, then re-embed (default: [index] adapt)",
    )
    index.add_argument("--json", action="store_true")

    search = sub.add_parser("search", help="search the code (hybrid dense + BM25)")
    search.add_argument("query")
    search.add_argument("--repo", type=Path, default=Path("."))
    search.add_argument("-k", type=int, default=DEFAULT_K, help=f"how many results (default {DEFAULT_K})")
    search.add_argument("--mode", choices=get_args(SearchMode), default=DEFAULT_MODE)
    search.add_argument("--language", help="only this language")
    search.add_argument("--path", dest="path_glob", help="only paths matching this glob")
    search.add_argument("--kind", help="only this kind (function, method, class, ...)")
    search.add_argument("--json", action="store_true")

    train = sub.add_parser("train", help="fine-tune a base model on the newest dataset (live progress)")
    train.add_argument("--repo", type=Path, default=Path("."))
    train.add_argument("--method", choices=get_args(Method), help="default: [cycle] method (lora)")
    train.add_argument(
        "--base-model",
        help="'smollm2-135m' (default, offline), 'gguf:PATH', 'ollama:NAME[:TAG]', "
        "a local mlx-lm model folder, a hub id, or 'tiny' (tests)",
    )
    train.add_argument("--dataset", dest="dataset_id", help="dataset id (default: the newest)")
    train.add_argument("--task", choices=get_args(Task), help="default: [cycle] task (completion)")
    train.add_argument("--iters", type=int, help="steps (default: the budget plan's)")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float, help="default: the budget plan's")
    train.add_argument("--num-layers", type=int, help="blocks from the top with adapters, -1 all (default: the plan's)")
    train.add_argument("--rank", type=int)
    train.add_argument("--alpha", type=float)
    train.add_argument("--rora", action="store_true", default=None, help="alpha/sqrt(r) scaling")
    train.add_argument("--max-seq-length", type=int, help="default: from the data, capped by the plan")
    train.add_argument("--resume", metavar="RUN_ID", help="continue a killed or cancelled run instead")
    train.add_argument("--detach", action="store_true", help="start the run and return (follow with `runs`)")

    runs = sub.add_parser("runs", help="training runs and their figures")
    runs.add_argument("--repo", type=Path, default=Path("."))
    runs.add_argument("--json", action="store_true")

    config = sub.add_parser("config", help="print the resolved configuration")
    config.add_argument("--repo", type=Path, default=Path("."))

    _COMMANDS.update(cli_loop.add_commands(sub))
    _COMMANDS.update(cli_admin.add_commands(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # stderr only: in `serve`, stdout is the MCP protocol channel.
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        _trust_user_model_paths(args)
        return int(_COMMANDS[args.command](args) or 0)
    except ForgeError as exc:
        print(f"forge-mcp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _trust_user_model_paths(args: argparse.Namespace) -> None:
    """The user names model folders on the command line: --model-dir folders, and a --base-model path (made
    absolute against the working folder, as a shell user expects). Tool arguments and forge.toml get no such
    trust (forge/model_places.py). The environment carries it to everything this process resolves."""

    dirs = [str(d.expanduser().resolve()) for d in args.model_dirs or []]
    name = getattr(args, "base_model", None)
    if name:
        prefix, raw = ("gguf:", name[5:]) if name.startswith("gguf:") else ("", name)
        path = Path(raw).expanduser()
        if prefix or raw.startswith(("/", "~", ".")) or path.is_dir():
            try:
                path = path.resolve()
            except OSError as exc:
                raise ForgeError(f"--base-model {raw[:200]!r}: {exc.strerror or exc}") from exc
            args.base_model = f"{prefix}{path}"
            dirs.append(str(path.parent if prefix else path))
    if dirs:
        current = [d for d in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if d]
        os.environ[MODEL_DIRS_ENV] = os.pathsep.join([*current, *dirs])


def _serve(args: argparse.Namespace) -> int:

    overrides: dict[str, dict[str, object]] = {"server": {}}
    for key in ("host", "port", "token", "token_file"):
        if getattr(args, key) is not None:
            overrides["server"][key] = str(getattr(args, key)) if key == "token_file" else getattr(args, key)
    if args.no_watch:
        overrides["watch"] = {"enabled": False}
    serve(args.repo or [Path.cwd()], http=args.http, overrides=overrides)
    return 0


def _status(args: argparse.Namespace) -> int:

    report = monitor(Workspace.open(args.repo.resolve()), since=args.since)
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0

    render_report(report)
    return 0


def _watch(args: argparse.Namespace) -> int:

    ws = Workspace.open(args.repo.resolve())
    out = console()

    def show(batch: Batch) -> None:
        for kind, path, dest in batch.changes:
            out.print(f"[dim]#{batch.number}[/] {kind:9} {path}" + (f" -> {dest}" if dest else ""))

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with RepoWatcher(ws, on_batch=show) as watcher:
        out.print(f"watching {ws.repo_root} ({watcher.backend}); Ctrl-C to stop")
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    return 0


def _events(args: argparse.Namespace) -> int:

    events = recent_events(Workspace.open(args.repo.resolve()), args.n)
    if args.json:
        print(json.dumps([e.model_dump() for e in events], indent=2))
        return 0
    for event in reversed(events):
        print(f"{event.time}  {event.kind:9} {event.path}" + (f" -> {event.dest_path}" if event.dest_path else ""))
    return 0


def _chunk(args: argparse.Namespace) -> int:

    ws = Workspace.open(args.repo.resolve())
    teacher = teacher_for(ws, args.teacher_model)
    with progress_bar("chunking", enabled=not args.json) as update:
        summary = build_dataset(ws, args.ref, force=args.force, progress=update, teacher=teacher)
    if args.json:
        print(summary.model_dump_json(indent=2))
    else:
        render_dataset(summary)
    return 0


def _index(args: argparse.Namespace) -> int:

    ws = Workspace.open(args.repo.resolve())
    index = RagIndex(ws, rebuild=args.rebuild)
    with progress_bar("indexing", enabled=not args.json) as update:
        report = sync_and_adapt(index, args.adapt, update)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(
            f"{report.files_indexed} files, {report.chunks} chunks indexed with {report.embedder} "
            f"({report.files_changed} files re-read, {report.chunks_embedded} chunks embedded, "
            f"{report.chunks_reused} reused from a killed run, "
            f"{report.orphans_removed + report.missing_repaired + report.unreachable_repaired} repaired"
            + (f", {report.unreachable_left} STILL UNREACHABLE: run with --rebuild" if report.unreachable_left else "")
            + f") in {report.seconds:.1f}s"
        )
        if report.adaptation is not None:
            a = report.adaptation
            print(
                f"embedder {'reused' if a.reused else 'adapted'}: {a.embedder} from {a.pairs} pairs "
                f"({a.hard_negatives} hard negatives; {a.plan.epochs} epoch(s) at {a.plan.max_seq_length} tokens, "
                f"{a.train.get('train_seconds', 0):.0f} s), {a.reembedded} chunks re-embedded, {a.seconds:.0f} s in all"
            )
    return 0


def _search(args: argparse.Namespace) -> int:

    hits = RagIndex(Workspace.open(args.repo.resolve())).search(
        args.query, k=args.k, mode=args.mode, language=args.language, path_glob=args.path_glob, kind=args.kind
    )
    if args.json:
        print(json.dumps([h.model_dump() for h in hits], indent=2))
        return 0
    for rank, hit in enumerate(hits, start=1):
        where = f"{hit.path}:{hit.start_line}-{hit.end_line}"
        print(f"{rank:2}. {where}  {hit.symbol or '(module)'}  [{hit.kind}, {hit.score:.4f}]")
    return 0


def _train(args: argparse.Namespace) -> int:

    ws = Workspace.open(args.repo.resolve())
    if args.resume:
        info = resume_run(ws, args.resume)
    else:
        info, _ = trigger_planned(
            ws,
            {
                k: getattr(args, k)
                for k in (
                    "method",
                    "base_model",
                    "dataset_id",
                    "task",
                    "iters",
                    "batch_size",
                    "learning_rate",
                    "num_layers",
                    "rank",
                    "alpha",
                    "rora",
                    "max_seq_length",
                )
            },
        )
        print("\n".join(f"plan: {reason}" for reason in info.plan))
    print(f"run {info.run_id} started ({info.method} on {info.base_model}); log: {info.log_path}")
    if args.detach:
        return 0
    final = follow_run(ws, info.run_id)
    print(
        f"run {final.run_id}: {final.status} at step {final.step}/{final.iters}"
        + (f", best val loss {final.best_val_loss:.4f}" if final.best_val_loss is not None else "")
        + (f"; {final.error}" if final.error else "")
        + (f"; adapter: {final.adapter_path}" if final.adapter_path else "")
    )
    return 0 if final.status == "completed" else 1


def _runs(args: argparse.Namespace) -> int:

    runs = list_runs(Workspace.open(args.repo.resolve()))
    if args.json:
        print(json.dumps([r.model_dump() for r in runs], indent=2))
        return 0
    for r in runs:
        loss = f"train {r.last_train_loss:.4f}" if r.last_train_loss is not None else "no report yet"
        val = f", best val {r.best_val_loss:.4f}" if r.best_val_loss is not None else ""
        print(f"{r.run_id}  {r.status:9} {r.method:6} {r.base_model}  step {r.step}/{r.iters}  {loss}{val}")
    return 0


def _config(args: argparse.Namespace) -> int:

    ws = Workspace.open(args.repo.resolve())
    print(ws.config.to_json())
    print(f"# state folder: {ws.state_dir}", file=sys.stderr)
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {
    "serve": _serve,
    "status": _status,
    "watch": _watch,
    "events": _events,
    "chunk": _chunk,
    "index": _index,
    "search": _search,
    "train": _train,
    "runs": _runs,
    "config": _config,
}

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
