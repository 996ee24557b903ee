"""Base models are read only from places the user named: the roots, the model caches, the Ollama store,
and --model-dir / FORGE_MODEL_DIRS."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forge_mcp.core.errors import ConfigError, GGUFImportError, PathOutsideRootsError
from forge_mcp.core.workspace import Workspace
from forge_mcp.train.model_places import confine_model_path, model_path_of, model_places
from forge_mcp.train.trigger import resolve_base_model


@pytest.fixture
def ws(repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return Workspace.open(repo.path)


def _outside_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "model.gguf"
    path.parent.mkdir()
    path.write_bytes(b"not a gguf at all")
    return path


def test_a_gguf_outside_the_places_is_refused_before_it_is_read(ws: Workspace, tmp_path: Path) -> None:
    path = _outside_gguf(tmp_path)
    with pytest.raises(PathOutsideRootsError) as err:
        resolve_base_model(ws, f"gguf:{path}", ws.state_dir)
    assert "--model-dir" in str(err.value) and str(path.parent) in str(err.value)


def test_a_folder_the_user_named_is_allowed(repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _outside_gguf(tmp_path)
    monkeypatch.setenv("FORGE_MODEL_DIRS", str(path.parent))
    ws = Workspace.open(repo.path)
    assert path.parent.resolve() in model_places(ws)
    with pytest.raises(GGUFImportError):  # past confinement: now it is read, and it is no GGUF
        resolve_base_model(ws, f"gguf:{path}", ws.state_dir)


def test_an_mlx_folder_outside_is_refused(ws: Workspace, tiny_path: Path, tmp_path: Path) -> None:
    with pytest.raises(PathOutsideRootsError):
        resolve_base_model(ws, str(tiny_path), ws.state_dir)


def test_relative_names_start_at_the_repository_not_the_working_folder(
    ws: Workspace, tiny_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cwd"
    shutil.copytree(tiny_path, elsewhere / "models" / "mine")
    monkeypatch.chdir(elsewhere)
    with pytest.raises(Exception, match="unknown base model"):  # not the working folder's models/mine
        resolve_base_model(ws, "./models/mine", ws.state_dir)
    shutil.copytree(tiny_path, ws.repo_root / "models" / "mine")
    assert resolve_base_model(ws, "models/mine", ws.state_dir) == (ws.repo_root / "models" / "mine").resolve()


def test_a_link_inside_the_repository_to_a_folder_outside_is_refused(ws: Workspace, tiny_path: Path) -> None:
    (ws.repo_root / "model").symlink_to(tiny_path, target_is_directory=True)
    with pytest.raises(PathOutsideRootsError):
        resolve_base_model(ws, "model", ws.state_dir)


def test_the_model_caches_and_the_ollama_store_are_places(ws: Workspace, tmp_path: Path) -> None:
    for place in (ws.state_dir / "models" / "x", tmp_path / "hf" / "hub" / "x", tmp_path / "ollama" / "blobs" / "x"):
        assert confine_model_path(ws, place, "x") == place.resolve()


def test_names_that_are_not_paths(ws: Workspace) -> None:
    for name in ("smollm2-135m", "tiny", "ollama:qwen2.5-coder:1.5b", "mlx-community/Qwen2.5-Coder-1.5B-Instruct-4bit"):
        assert model_path_of(ws, name) is None


@pytest.mark.parametrize("name", ["x" * 300, "gguf:/" + "y" * 300, "a\x00b", "", "ollama:../../etc/passwd"])
def test_hostile_names_get_a_reason(ws: Workspace, name: str) -> None:
    with pytest.raises((ConfigError, GGUFImportError, PathOutsideRootsError)) as err:
        resolve_base_model(ws, name, ws.state_dir)
    assert len(str(err.value)) < 600
