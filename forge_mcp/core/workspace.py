"""One forge per repository: its resolved config, its state folder and its store.

The state folder defaults to `<repo>/.forge/` (config `state_dir`, env FORGE_STATE_DIR). When it lies
inside the work tree it is added to `.git/info/exclude`, so it never shows up as an untracked change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from forge_mcp.core.config import ForgeConfig, load_config
from forge_mcp.core.errors import StoreError
from forge_mcp.core.fsutil import atomic_write_text
from forge_mcp.core.repo import open_repo
from forge_mcp.core.store import Store

LAST_TRAINED_COMMIT = "last_trained_commit"
LAST_TRAINED_AT = "last_trained_at"
STORE_FILE = "forge.db"
CONFIG_FILE = "config.json"  # the resolved config the workspace was opened with


class Workspace:
    """The forge of one git repository."""

    def __init__(self, repo_root: Path, config: ForgeConfig) -> None:
        self.repo_root = repo_root
        self.config = config
        # The roots the forge was started with (the Forge sets them): base models may be read from any of them.
        self.trusted_roots: tuple[Path, ...] = (repo_root,)
        self.state_dir = config.resolved_state_dir(repo_root).resolve()
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the state folder {self.state_dir}: {exc}") from exc
        self._exclude_from_git()
        self.store = Store(self.state_dir / STORE_FILE)
        atomic_write_text(self.state_dir / CONFIG_FILE, config.to_json() + "\n")

    @classmethod
    def open(cls, path: Path, overrides: Mapping[str, Any] | None = None) -> Workspace:
        """Open the forge of the repository containing `path` (config resolved for that repository)."""
        repo = open_repo(path)
        root = Path(str(repo.working_tree_dir)).resolve()
        repo.close()
        return cls(root, load_config(root, overrides))

    @property
    def name(self) -> str:
        return self.repo_root.name

    # -- the state folder's layout: every stage asks here for its place, none spells a path out -------------
    def run_dir(self, run_id: str) -> Path:
        """runs/<run_id>/: a training run's parameters, log, adapters and checkpoints (train.params.RunPaths)."""
        return self.state_dir / "runs" / run_id

    def report_dir(self, report_id: str) -> Path:
        """reports/<report_id>/: a validation report (Markdown, JSON, chart)."""
        return self.state_dir / "reports" / report_id

    def dataset_dir(self, dataset_id: str) -> Path:
        """datasets/<dataset_id>/: the splits of every task and their manifest."""
        return self.state_dir / "datasets" / dataset_id

    def export_dir(self, name: str) -> Path:
        """exports/<run or model>/: the fused model and its GGUF."""
        return self.state_dir / "exports" / name

    @property
    def models_dir(self) -> Path:
        """models/: imported GGUFs, tiny models and quantized copies of base models."""
        return self.state_dir / "models"

    @property
    def embedders_dir(self) -> Path:
        """embedders/: embedders adapted to the repository."""
        return self.state_dir / "embedders"

    @property
    def chroma_dir(self) -> Path:
        """chroma/: the embedded ChromaDB of the index."""
        return self.state_dir / "chroma"

    @property
    def deployments_dir(self) -> Path:
        """deployments/: the local llama.cpp server's log."""
        return self.state_dir / "deployments"

    @property
    def last_trained_commit(self) -> str | None:
        return self.store.get_meta(LAST_TRAINED_COMMIT)

    @property
    def last_trained_at(self) -> float | None:
        value = self.store.get_meta(LAST_TRAINED_AT)
        return None if value is None else float(value)

    def mark_trained(self, commit: str, at: float) -> None:
        """Record the commit the current model was trained on (the training stage calls this)."""
        self.store.set_meta(LAST_TRAINED_COMMIT, commit)
        self.store.set_meta(LAST_TRAINED_AT, repr(at))

    def _exclude_from_git(self) -> None:
        if not self.state_dir.is_relative_to(self.repo_root):
            return
        rel = self.state_dir.relative_to(self.repo_root).as_posix()
        if rel in ("", "."):
            return
        git_dir = self.repo_root / ".git"
        exclude = git_dir / "info" / "exclude"
        if not git_dir.is_dir() or git_dir.is_symlink():
            return  # a worktree or submodule (.git is a file), or a link: leave its excludes alone
        if (
            (exclude.parent.exists() and exclude.parent.is_symlink())
            or exclude.is_symlink()
            or not exclude.parent.resolve().is_relative_to(git_dir.resolve())
        ):
            return  # a cloned repository cannot point this write outside itself
        line = f"/{rel}/"
        current = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
        if line not in current.splitlines():
            sep = "" if not current or current.endswith("\n") else "\n"
            atomic_write_text(exclude, f"{current}{sep}{line}\n")
