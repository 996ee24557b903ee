from pathlib import Path

import pytest

from forge_mcp.config import ForgeConfig, env_layer, load_config
from forge_mcp.errors import ConfigError


def test_defaults_without_any_file(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, env={})
    assert cfg == ForgeConfig()
    assert cfg.monitor.min_changed_files == 10
    assert cfg.resolved_state_dir(tmp_path) == tmp_path / ".forge"


def test_layers_file_then_env_then_overrides(tmp_path: Path) -> None:
    (tmp_path / "forge.toml").write_text(
        'state_dir = "/var/forge"\n[monitor]\nmin_changed_files = 3\nmax_commits_listed = 7\n'
    )
    env = {"FORGE_MONITOR__MIN_CHANGED_FILES": "4", "FORGE_WATCH__DEBOUNCE_MS": "50", "HOME": "/x"}
    cfg = load_config(tmp_path, overrides={"monitor": {"max_commits_listed": 9}}, env=env)
    assert cfg.state_dir == "/var/forge"
    assert cfg.monitor.min_changed_files == 4  # env beats the file
    assert cfg.monitor.max_commits_listed == 9  # overrides beat the file
    assert cfg.watch.debounce_ms == 50


def test_forge_config_env_points_at_another_file(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text("[monitor]\nmin_changed_files = 2\n")
    assert load_config(tmp_path, env={"FORGE_CONFIG": str(other)}).monitor.min_changed_files == 2
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
        "server": {"port": "9"}, "state_dir": "s",
    }


def test_saved_json_masks_the_token(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, overrides={"server": {"token": "s3cret"}}, env={})
    assert cfg.server.token is not None and cfg.server.token.get_secret_value() == "s3cret"
    assert "s3cret" not in cfg.to_json()
