"""One typed configuration, resolved from layers:
defaults < the user's config file < the repository's forge.toml < environment < overrides.

A repository is untrusted input (it may be a fresh clone): its forge.toml may tune training and judging,
but the settings in USER_ONLY (where state lives, where the server binds, tokens, which hosts receive code,
model folders) come only from the user: their config file, FORGE_* variables, or command-line flags.
Each stage reads its own section. The resolved config is saved (as JSON) beside every artefact it
produced, so a result can always be traced to the settings that made it.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from forge_mcp.core.errors import ConfigError
from forge_mcp.core.kinds import Fusion, GateRule, Method, OutType, Quantize, Target, Task

CONFIG_FILE = "forge.toml"
ENV_PREFIX = "FORGE_"
USER_CONFIG_ENV = "FORGE_CONFIG"
MODEL_DIRS_ENV = "FORGE_MODEL_DIRS"

# Settings a repository's forge.toml may not set, and why: each decides what the forge writes where, what it
# exposes, or which machine receives the code. Where the user may set them instead is named in the error.
USER_ONLY: dict[str, str] = {
    "state_dir": "where the forge writes its state",
    "model_dirs": "which folders outside the repository may hold base models",
    "server.host": "where the HTTP server binds",
    "server.port": "where the HTTP server binds",
    "server.token": "who may call the HTTP server",
    "server.token_file": "who may call the HTTP server",
    "miner.ollama_host": "which server receives the repository's code (teacher model)",
    "index.ollama_host": "which server receives the repository's code (embedder)",
    "index.chroma_url": "which server receives the index",
    "deploy.ollama_host": "which server receives the model",
}
_FLAGS = {
    "server.host": "`serve --host`",
    "server.port": "`serve --port`",
    "server.token_file": "`serve --token-file`",
    "model_dirs": "`--model-dir`",
}


class _Section(BaseModel):
    # Unknown keys are errors: a typo in forge.toml must not be silently ignored.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MonitorConfig(_Section):
    """When a change is significant enough to retrain (`monitor_repo`)."""

    min_changed_files: int = Field(
        10, ge=1, description="Files changed since the last trained commit that make a change significant."
    )
    new_tag_is_significant: bool = Field(True, description="A new tag since the last trained commit is significant.")
    max_commits_listed: int = Field(50, ge=0, le=10_000, description="Commits listed in a report (all are counted).")
    max_files_listed: int = Field(
        200, ge=0, le=100_000, description="Changed files listed in a report (all are counted)."
    )
    recent_events_listed: int = Field(20, ge=0, le=1_000, description="Watcher events included in a report.")


class WatchConfig(_Section):
    """The working-tree watcher."""

    enabled: bool = Field(True, description="Start the watcher with the server.")
    debounce_ms: int = Field(150, ge=0, le=60_000, description="Quiet time that closes a burst of file events.")
    max_batch_ms: int = Field(
        1000, ge=10, le=600_000, description="Longest a burst is held before it is recorded anyway."
    )
    keep_events: int = Field(50_000, ge=100, description="Events kept in the store; older ones are pruned.")


class MinerConfig(_Section):
    """Chunking and dataset building (`chunk_data`)."""

    max_file_bytes: int = Field(1_000_000, ge=1_000, description="Larger files are skipped as huge.")
    chunk_budget: int = Field(2000, ge=200, le=100_000, description="Largest chunk, in non-whitespace characters.")
    exclude: list[str] = Field(default_factory=list, description="Extra glob patterns of paths to skip.")
    processes: int = Field(
        0,
        ge=0,
        le=64,
        description="Worker processes that chunk a large batch of new files (0: one per core, at most 8; 1: none).",
    )
    held_out_commits: int = Field(
        5,
        ge=0,
        le=10_000,
        description=(
            "At least this many of the most recent code-changing commits are held out: the units they touch form the "
            "test set (commits that change no function, method or class are skipped)."
        ),
    )
    min_test_units: int = Field(
        20,
        ge=0,
        le=1_000_000,
        description=(
            "Hold out older code-changing commits too until the test set has at least this many completion units."
        ),
    )
    max_held_out_commits: int = Field(
        200,
        ge=1,
        le=10_000,
        description=(
            "Look at most this many first-parent commits back (skipped ones included, never fewer than "
            "held_out_commits); the walk also stops before fewer than half of the completion units would remain for "
            "training."
        ),
    )
    valid_fraction: float = Field(0.1, ge=0.0, le=0.5, description="Share of the remaining units used for validation.")
    raft_distractors: int = Field(4, ge=0, le=20, description="RAFT: distractor documents per example (k).")
    raft_oracle_fraction: float = Field(
        0.8, ge=0.0, le=1.0, description="RAFT: share of examples that include the oracle (P)."
    )
    seed: int = Field(0, description="Seed for splits, sampling and shuffling.")
    teacher_model: str | None = Field(
        None,
        description="An Ollama model that writes RAFT questions and reasoning; templated when unset or unreachable.",
    )
    ollama_host: str = Field(
        "http://127.0.0.1:11434", description="Ollama server for the teacher model (env OLLAMA_HOST also works)."
    )
    teacher_max_examples: int = Field(
        200, ge=0, description="At most this many examples are written by the teacher per dataset."
    )


class IndexConfig(_Section):
    """The RAG index (`rag_search`)."""

    embedder: str = Field(
        "minilm", description="'minilm' (offline, default) or 'ollama:<model>' (e.g. ollama:nomic-embed-text)."
    )
    ollama_host: str = Field("http://127.0.0.1:11434", description="Ollama server for ollama:<model> embedders.")
    chroma_url: str | None = Field(
        None, description="A Chroma server (http://host:port); default: embedded under the state folder."
    )
    candidates: int = Field(100, ge=5, le=1000, description="Candidates taken from each retriever before fusion.")
    fusion: Fusion = Field(
        "convex",
        description=(
            "How hybrid mode fuses the two rankings: a weighted sum of normalised scores (measured best) or reciprocal"
            " rank fusion."
        ),
    )
    dense_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Convex fusion: weight of the dense score (the BM25 score gets the rest)."
    )
    rrf_k: int = Field(60, ge=1, le=1000, description="Reciprocal rank fusion constant.")
    auto_sync: bool = Field(
        True, description="Re-index changed files when the watcher sees them (once an index exists)."
    )
    adapt: bool = Field(
        False,
        description=(
            "Fine-tune the MiniLM embedder on pairs mined from the repository (docstring, comment and heading -> code)"
            " in a worker, then re-embed the index with it; `index_repo(adapt=true)` and `forge-mcp index --adapt` do "
            "it once."
        ),
    )
    adapt_budget_minutes: float = Field(
        4.0,
        gt=0,
        le=1_000,
        description=(
            "Time for the embedder's training on a CPU; the plan picks pairs, epochs and sequence length to fit."
        ),
    )
    adapt_epochs: int | None = Field(
        None, ge=1, le=20, description="Epochs (default: 2, or 1 when 2 do not fit the budget)."
    )
    adapt_max_pairs: int | None = Field(
        None, ge=16, le=1_000_000, description="At most this many pairs (default: as many as fit)."
    )
    adapt_max_seq_length: int | None = Field(
        None, ge=32, le=512, description="Tokens per text while training (default: from the documents, at most 256)."
    )
    adapt_batch_size: int = Field(
        32, ge=4, le=512, description="Pairs per batch: each pair's document is a negative for the others."
    )
    adapt_learning_rate: float = Field(
        5e-5, gt=0, le=1e-2, description="Learning rate (linear warm-up over a tenth, then decay)."
    )
    adapt_signature_queries: bool = Field(
        False, description="Also use identifier-split names of undocumented units as queries."
    )
    adapt_seed: int = Field(0, description="Seed for sampling pairs and the worker's shuffling.")
    adapt_min_change: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description=(
            "Train again only when at least this share of the pairs changed since the adapted model serving now (0: on"
            " any change)."
        ),
    )


class JudgeConfig(_Section):
    """Validation of a model on the held-out test set (`validate_model`)."""

    gate: GateRule = Field(
        "baseline",
        description=(
            "'baseline': pass when held-out perplexity beats the baseline's (the deployed model, else the base) by "
            "perplexity_margin and CodeBLEU is not below the baseline's by more than tolerance. 'absolute': CodeBLEU "
            "must also reach threshold (for 7B-class models; a 135M model never reaches 0.6)."
        ),
    )
    perplexity_margin: float = Field(
        0.05,
        ge=0.0,
        lt=1.0,
        description="How much lower (relative) the candidate's held-out perplexity must be than the baseline's.",
    )
    threshold: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="CodeBLEU a candidate must reach with gate = 'absolute' (or when there is no baseline).",
    )
    tolerance: float = Field(
        0.02, ge=0.0, le=1.0, description="How far below the baseline's CodeBLEU a candidate may be and still pass."
    )
    max_examples: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Larger test sets are sampled (seeded) down to this size; a time budget may lower it on CPU.",
    )
    max_tokens: int = Field(
        256, ge=8, le=8192, description="Most tokens generated per completion; a time budget may lower it on CPU."
    )
    seed: int = Field(0, description="Seed of the test-set sample.")


class CycleConfig(_Section):
    """The whole loop (`forge-mcp cycle`, `run_cycle`) and auto mode.

    Settings left unset (None) are chosen by the hardware plan to fit `budget_minutes` on this machine."""

    auto: bool = Field(
        False,
        description=(
            "Start a cycle by itself when the watcher's significance policy fires (never deploys a failing run)."
        ),
    )
    base_model: str = Field(
        "smollm2-135m",
        description=(
            "Base model of the cycle's training run: 'smollm2-135m' (shipped, offline), 'gguf:PATH', "
            "'ollama:NAME[:TAG]', a local mlx-lm folder or a hub id ('tiny' is for tests)."
        ),
    )
    budget_minutes: float = Field(
        11.0,
        gt=0,
        le=10_000,
        description=(
            "Time for training plus validation on a CPU-only machine; the plan picks layers, sequence length, steps "
            "and validation size to fit (Apple Silicon and CUDA get the full profile)."
        ),
    )
    method: Method = Field("lora", description="Adapter method.")
    task: Task = Field("completion", description="Dataset task trained on.")
    iters: int | None = Field(None, ge=1, le=1_000_000, description="Training steps (default: from the plan).")
    batch_size: int = Field(4, ge=1, le=1024, description="Training batch size.")
    learning_rate: float | None = Field(None, gt=0, description="Learning rate (default: from the plan).")
    num_layers: int | None = Field(
        None, ge=-1, description="Blocks from the top that get adapters, -1 all (default: from the plan)."
    )
    max_seq_length: int | None = Field(
        None, ge=16, le=131_072, description="Longest training sequence (default: from the data, capped by the plan)."
    )
    compile: bool = Field(True, description="mx.compile the training step (on CPU the first compile takes ~25 s).")
    index: bool = Field(True, description="Build or refresh the RAG index in the cycle.")
    adapt_embedder: bool = Field(
        True,
        description=(
            "Adapt the index's embedder to the repository in the cycle's index stage (time-boxed by [index] "
            "adapt_budget_minutes; reused while the pairs are unchanged; skipped, with the reason, when the repository"
            " offers too few pairs). Measured to help: bench/README.md."
        ),
    )
    deploy: bool = Field(True, description="Deploy the run when it passes validation.")


class DeployConfig(_Section):
    """Export and deployment (`deploy_model`)."""

    target: Target = Field("auto", description="'auto': Ollama when it answers, else the local llama.cpp server.")
    ollama_host: str = Field("http://127.0.0.1:11434", description="The Ollama server (env OLLAMA_HOST also works).")
    name_prefix: str = Field("forge", description="Ollama models are named <prefix>/<repo>:<short-sha>.")
    outtype: OutType = Field("f16", description="Tensor type of the exported GGUF.")
    quantize: Quantize = Field(
        "none", description="Also quantize to Q4_K_M (llama.cpp's quantizer; Ollama's at create time)."
    )
    min_agreement: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description="Parity: share of greedy tokens llama.cpp must agree with mlx on (f32 must be exact).",
    )
    temperature: float = Field(0.2, ge=0.0, le=2.0, description="Sampling temperature of the served model.")
    top_k: int = Field(40, ge=1, le=1000, description="Top-k of the served model.")
    system: str | None = Field(None, description="SYSTEM prompt of the served model (default: names the project).")
    ollama_template: str | None = Field(
        None, description="Go chat template for Ollama when the model's is not ChatML, Llama 3, Mistral or Gemma."
    )
    ollama_stops: list[str] = Field(default_factory=list, description="Stop tokens that go with ollama_template.")
    llama_port: int = Field(8088, ge=1, le=65_535, description="Port of the local llama.cpp server on 127.0.0.1.")


class ServerConfig(_Section):
    """The MCP server's transport settings."""

    host: str = Field("127.0.0.1", description="Bind address for streamable HTTP.")
    port: int = Field(8765, ge=0, le=65_535, description="Port for streamable HTTP.")
    token: SecretStr | None = Field(
        None,
        description=(
            "Bearer token for HTTP; required unless bound to loopback. Prefer token_file or FORGE_SERVER__TOKEN: a "
            "--token flag shows in the process list."
        ),
    )
    token_file: str | None = Field(None, description="A file whose content (stripped) is the bearer token.")

    def bearer_token(self) -> str | None:
        """The token, from `token` or else `token_file` (read now, so a rotated file is picked up on restart)."""
        if self.token is not None:
            return self.token.get_secret_value()
        if self.token_file is None:
            return None
        path = Path(self.token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the token file {path} (server.token_file): {exc}") from exc
        if not token:
            raise ConfigError(f"the token file {path} (server.token_file) is empty; write the token into it")
        return token


class ForgeConfig(_Section):
    """All settings of one forge (one repository)."""

    state_dir: str = Field(".forge", description="State folder; relative paths are relative to the repository root.")
    model_dirs: list[str] = Field(
        default_factory=list,
        description=(
            "Folders outside the repository that may hold base models (gguf:PATH or mlx-lm folders), besides the model"
            " cache and the Ollama store (env FORGE_MODEL_DIRS, paths joined by the OS path separator; `--model-dir`)."
        ),
    )
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    watch: WatchConfig = Field(default_factory=WatchConfig)
    miner: MinerConfig = Field(default_factory=MinerConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    cycle: CycleConfig = Field(default_factory=CycleConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)

    def resolved_state_dir(self, repo_root: Path) -> Path:
        path = Path(self.state_dir).expanduser()
        return path if path.is_absolute() else (repo_root / path)

    def to_json(self) -> str:
        """The resolved config as JSON, secrets masked (it is written beside artefacts)."""
        data = self.model_dump(mode="json")
        if self.server.token is not None:
            data["server"]["token"] = "**********"
        return json.dumps(data, indent=2, sort_keys=True)


def user_config_path(env: Mapping[str, str]) -> Path | None:
    """The user's own config file: $FORGE_CONFIG, else $XDG_CONFIG_HOME/forge-mcp/config.toml, else
    ~/.config/forge-mcp/config.toml (None when the environment names no home)."""
    if env.get(USER_CONFIG_ENV):
        return Path(env[USER_CONFIG_ENV]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or (str(Path(env["HOME"]) / ".config") if env.get("HOME") else None)
    return Path(base) / "forge-mcp" / "config.toml" if base else None


def check_repository_layer(layer: Mapping[str, Any], path: Path, user_file: Path | None) -> None:
    """Refuse a repository forge.toml that sets a user-only setting, naming where it may be set instead."""
    for key, why in USER_ONLY.items():
        node: Any = layer
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            continue
        env_name = ENV_PREFIX + key.upper().replace(".", "__")
        places = [
            f"your user config file ({user_file or '~/.config/forge-mcp/config.toml'})",
            f"the environment ({env_name})",
        ]
        places += [f"the command line ({_FLAGS[key]})"] if key in _FLAGS else []
        raise ConfigError(
            f"{path} sets `{key}`, which a repository's forge.toml may not set: it decides {why}, and a cloned "
            f"repository must not. Remove it from {path.name} and set it in {', '.join(places[:-1])} or {places[-1]}"
        )


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


MAX_CONFIG_BYTES = 1_000_000


def read_config_file(path: Path, inside: Path | None = None) -> dict[str, Any]:
    """Read a forge.toml; a missing file is an empty layer, a malformed one a ConfigError. With `inside` (the
    repository root), the file must be a regular file whose real path is inside it: a link elsewhere is refused."""
    if not path.is_file():
        return {}
    if inside is not None:
        real = path.resolve()
        if path.is_symlink() or not real.is_relative_to(inside.resolve()):
            raise ConfigError(
                f"{path} is a symbolic link (to {real}); a repository's forge.toml must be a regular "
                "file inside it: replace the link with the file"
            )
    try:
        # Opened without following a link, so a link swapped in after the check above is refused too.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes; a forge.toml is a few lines")
            return tomllib.loads(handle.read(MAX_CONFIG_BYTES + 1).decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {str(exc)[:200]}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc


def env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    """FORGE_STATE_DIR, FORGE_MONITOR__MIN_CHANGED_FILES=5, FORGE_SERVER__TOKEN=... (double underscore nests);
    FORGE_MODEL_DIRS is a list joined by the OS path separator."""
    layer: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == USER_CONFIG_ENV:
            continue
        if name == MODEL_DIRS_ENV:
            layer["model_dirs"] = [part for part in value.split(os.pathsep) if part]
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) > 2 or not all(parts):
            continue
        node = layer
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return layer


def load_config(
    repo_root: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> ForgeConfig:
    """Resolve the config for a repository: defaults < the user's config file < the repository's forge.toml
    (user-only settings refused) < FORGE_* env < overrides."""
    env = os.environ if env is None else env
    user_file = user_config_path(env)
    if env.get(USER_CONFIG_ENV) and user_file is not None and not user_file.is_file():
        raise ConfigError(f"{USER_CONFIG_ENV} points to {user_file}, which does not exist")
    layers = read_config_file(user_file) if user_file is not None else {}
    sources = [str(user_file)] if layers else []
    if repo_root is not None:
        repo_file = repo_root / CONFIG_FILE
        repo_layer = read_config_file(repo_file, inside=repo_root)
        check_repository_layer(repo_layer, repo_file, user_file)
        layers = _deep_merge(layers, repo_layer)
        sources += [str(repo_file)] if repo_layer else []
    layers = _deep_merge(layers, env_layer(env))
    layers = _deep_merge(layers, overrides or {})
    try:
        return ForgeConfig.model_validate(layers)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        source = ", ".join(sources) or "defaults"
        raise ConfigError(f"invalid configuration (from {source}, FORGE_* env, arguments): {problems}") from exc
