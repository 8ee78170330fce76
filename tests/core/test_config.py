"""Settings: defaults < config file < environment < flags."""

from pathlib import Path

import pytest

from plexnet.core.config import load_settings
from plexnet.core.errors import ConfigError


def test_defaults_live_in_home(tmp_path):
    s = load_settings({"home": str(tmp_path)}, environ={})
    assert s.home == tmp_path
    assert s.database_url == f"sqlite:///{tmp_path / 'ledger.db'}"
    assert s.blob_root == tmp_path / "blobs" and s.keystore == tmp_path / "keys"
    assert s.ray_address is None and s.sqlite_path == tmp_path / "ledger.db"


def test_precedence(tmp_path):
    (tmp_path / "config.toml").write_text('ray_address = "file:1"\nblob_root = "/from/file"\n')
    env = {"PLEXNET_HOME": str(tmp_path), "PLEXNET_RAY_ADDRESS": "env:2"}
    s = load_settings({}, environ=env)
    assert s.ray_address == "env:2" and s.blob_root == Path("/from/file")
    s = load_settings({"ray_address": "flag:3"}, environ=env)
    assert s.ray_address == "flag:3"


def test_config_path_from_environment(tmp_path):
    cfg = tmp_path / "other.toml"
    cfg.write_text('database_url = "postgresql+psycopg://u:p@h/db"\n')
    s = load_settings({"home": str(tmp_path)}, environ={"PLEXNET_CONFIG": str(cfg)})
    assert s.database_url.startswith("postgresql") and s.sqlite_path is None


@pytest.mark.parametrize("text", ["not toml = = =", 'unknown_key = "x"', "ray_address = 5"])
def test_bad_config_files(tmp_path, text):
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError):
        load_settings({"home": str(tmp_path)}, environ={})


def test_unknown_flag():
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({"colour": "blue"}, environ={})
