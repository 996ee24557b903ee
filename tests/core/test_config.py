import os
from pathlib import Path

import pytest

from forge_mcp.core.config import ForgeConfig, env_layer, load_config
from forge_mcp.core.errors import ConfigError


def test_defaults_without_any_file(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, env={})
    assert cfg == ForgeConfig()
    assert cfg.monitor.min_changed_files == 10
    assert cfg.resolved_state_dir(tmp_path) == tmp_path / ".forge"


def test_layers_user_file_then_repository_then_env_then_overrides(tmp_path: Path) -> None:
    user = tmp_path / "home" / ".config" / "forge-mcp" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('state_dir = "/var/forge"\n[monitor]\nmin_changed_files = 2\n[judge]\nmax_examples = 5\n')
    (tmp_path / "forge.toml").write_text("[monitor]\nmin_changed_files = 3\nmax_commits_listed = 7\n")
    env = {"FORGE_MONITOR__MIN_CHANGED_FILES": "4", "FORGE_WATCH__DEBOUNCE_MS": "50", "HOME": str(tmp_path / "home")}
    cfg = load_config(tmp_path, overrides={"monitor": {"max_commits_listed": 9}}, env=env)
    assert cfg.state_dir == "/var/forge"  # only the user may say where state lives
    assert cfg.judge.max_examples == 5  # the user's file is a layer of its own
    assert cfg.monitor.min_changed_files == 4  # env beats the file
    assert cfg.monitor.max_commits_listed == 9  # overrides beat the file
    assert cfg.watch.debounce_ms == 50


def test_forge_config_env_names_the_user_file(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('state_dir = "/srv/forge"\n[monitor]\nmin_changed_files = 2\n')
    cfg = load_config(tmp_path, env={"FORGE_CONFIG": str(other)})
    assert (cfg.monitor.min_changed_files, cfg.state_dir) == (2, "/srv/forge")
    (tmp_path / "forge.toml").write_text("[monitor]\nmin_changed_files = 6\n")  # the repository's still counts
    assert load_config(tmp_path, env={"FORGE_CONFIG": str(other)}).monitor.min_changed_files == 6
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path, env={"FORGE_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[monitor\nmin_changed_files = 1", "not valid TOML"),
        ("[monitor]\nmin_changed_files = 0", "monitor.min_changed_files"),
        ("[monitor]\nmin_chnaged_files = 5", "monitor.min_chnaged_files"),  # typos are not ignored
        ("[watch]\ndebounce_ms = 'soon'", "watch.debounce_ms"),
    ],
)
def test_broken_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "forge.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, env={})


def test_env_layer_nests_on_double_underscore() -> None:
    assert env_layer({"FORGE_SERVER__PORT": "9", "FORGE_STATE_DIR": "s", "OTHER": "1", "FORGE_A__B__C": "x"}) == {
        "server": {"port": "9"},
        "state_dir": "s",
    }


def test_saved_json_masks_the_token(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, overrides={"server": {"token": "s3cret"}}, env={})
    assert cfg.server.token is not None and cfg.server.token.get_secret_value() == "s3cret"
    assert "s3cret" not in cfg.to_json()


@pytest.mark.parametrize(
    ("text", "key", "env_name"),
    [
        ('state_dir = "../outside"', "state_dir", "FORGE_STATE_DIR"),
        ('state_dir = "/tmp/elsewhere"', "state_dir", "FORGE_STATE_DIR"),
        ('model_dirs = ["/"]', "model_dirs", "FORGE_MODEL_DIRS"),
        ('[server]\nhost = "0.0.0.0"\ntoken = "known-to-the-author"', "server.host", "FORGE_SERVER__HOST"),
        ('[server]\ntoken = "known-to-the-author"', "server.token", "FORGE_SERVER__TOKEN"),
        ("[server]\nport = 80", "server.port", "FORGE_SERVER__PORT"),
        ('[index]\nchroma_url = "http://collector.example:8000"', "index.chroma_url", "FORGE_INDEX__CHROMA_URL"),
        ('[miner]\nollama_host = "http://collector.example"', "miner.ollama_host", "FORGE_MINER__OLLAMA_HOST"),
        ('[deploy]\nollama_host = "http://collector.example"', "deploy.ollama_host", "FORGE_DEPLOY__OLLAMA_HOST"),
    ],
)
def test_a_repository_may_not_set_user_only_settings(tmp_path: Path, text: str, key: str, env_name: str) -> None:
    (tmp_path / "forge.toml").write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path, env={"HOME": str(tmp_path / "home")})
    message = str(err.value)
    assert f"`{key}`" in message and env_name in message and "config.toml" in message
    assert not (tmp_path / "outside").exists()


def test_user_only_settings_come_from_the_user(tmp_path: Path) -> None:
    (tmp_path / "forge.toml").write_text("[judge]\nmax_examples = 7\n[cycle]\niters = 3\n")  # knobs are fine
    env = {"FORGE_STATE_DIR": "/srv/s", "FORGE_SERVER__HOST": "0.0.0.0", "FORGE_MODEL_DIRS": f"/m1{os.pathsep}/m2"}
    cfg = load_config(tmp_path, env=env)
    assert (cfg.state_dir, cfg.server.host, cfg.model_dirs) == ("/srv/s", "0.0.0.0", ["/m1", "/m2"])
    assert (cfg.judge.max_examples, cfg.cycle.iters) == (7, 3)


def test_a_symlinked_repository_forge_toml_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text("[judge]\nmax_examples = 7\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "forge.toml").symlink_to(outside)
    with pytest.raises(ConfigError, match="symbolic link"):
        load_config(repo, env={})


def test_token_from_a_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken-from-file\n")
    cfg = load_config(tmp_path, env={"FORGE_SERVER__TOKEN_FILE": str(token)})
    assert cfg.server.bearer_token() == "t0ken-from-file"
    token.write_text("  \n")
    with pytest.raises(ConfigError, match="is empty"):
        cfg.server.bearer_token()
    missing = load_config(tmp_path, env={"FORGE_SERVER__TOKEN_FILE": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="cannot read the token file"):
        missing.server.bearer_token()
