"""Typed settings, resolved from defaults < config file < ``PLEXNET_*`` variables < flags.

The config file is TOML at ``<home>/config.toml`` (or wherever ``PLEXNET_CONFIG``
points), with the same keys as :class:`Settings`::

    database_url = "postgresql+psycopg://plexnet:secret@db/plexnet"
    ray_address = "10.0.0.5:6379"

Every field has one environment variable: ``PLEXNET_HOME``, ``PLEXNET_DATABASE_URL``,
``PLEXNET_BLOB_ROOT``, ``PLEXNET_RAY_ADDRESS``, ``PLEXNET_KEYSTORE``,
``PLEXNET_KEY_PASSPHRASE``. Paths that are not set default to places inside home.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

from plexnet.core.errors import ConfigError

__all__ = ["Settings", "load_settings"]

_ENV_PREFIX: Final = "PLEXNET_"
_DEFAULT_HOME: Final = "~/.plexnet"


@dataclass(frozen=True)
class Settings:
    """Where plexnet keeps its state and how it reaches its services.

    Attributes:
        home: directory for everything local (keys, blobs, the SQLite ledger).
        database_url: SQLAlchemy URL of the ledger (SQLite file by default).
        blob_root: directory of the local blob store.
        keystore: directory of identity key files.
        ray_address: address of a Ray cluster to join; None starts a local one.
        key_passphrase: passphrase that encrypts key files; None stores them plain.
    """

    home: Path
    database_url: str
    blob_root: Path
    keystore: Path
    ray_address: str | None = None
    key_passphrase: str | None = None

    @property
    def sqlite_path(self) -> Path | None:
        """The ledger's file when the database is SQLite, else None."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix):
            return Path(self.database_url[len(prefix) :])
        return None


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from every source; ``overrides`` (CLI flags) win.

    Raises:
        ConfigError: for an unreadable config file or an unknown key in it.
    """
    env = os.environ if environ is None else environ
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    names = {f.name for f in fields(Settings)}
    unknown_flags = set(flags) - names
    if unknown_flags:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown_flags))}")

    from_env = {
        name: env[_ENV_PREFIX + name.upper()]
        for name in names
        if env.get(_ENV_PREFIX + name.upper())
    }
    home = Path(flags.get("home") or from_env.get("home") or _DEFAULT_HOME).expanduser()
    config_path = Path(env.get(_ENV_PREFIX + "CONFIG") or home / "config.toml").expanduser()
    from_file = _read_config(config_path, names)
    if "home" in from_file and "home" not in flags and "home" not in from_env:
        home = Path(from_file["home"]).expanduser()

    merged: dict[str, Any] = {**from_file, **from_env, **flags, "home": home}
    settings = Settings(
        home=home,
        database_url=str(merged.get("database_url") or f"sqlite:///{home / 'ledger.db'}"),
        blob_root=Path(merged.get("blob_root") or home / "blobs").expanduser(),
        keystore=Path(merged.get("keystore") or home / "keys").expanduser(),
    )
    return replace(
        settings,
        ray_address=merged.get("ray_address") or None,
        key_passphrase=merged.get("key_passphrase") or None,
    )


def _read_config(path: Path, names: set[str]) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = set(data) - names
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(names))}"
        )
    for key, value in data.items():
        if not isinstance(value, str):
            raise ConfigError(f"config file {path}: {key} must be a string")
    return data
