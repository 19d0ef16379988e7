"""Profiles: where the CLI finds a gateway URL and a token.

Precedence for each value: the command-line flag, then the environment
(``WASMGRID_URL``, ``WASMGRID_TOKEN``, ``WASMGRID_PROFILE``), then the selected
profile of ``$XDG_CONFIG_HOME/wasmgrid/config.toml`` (``~/.config`` when unset),
then the local dev stack's URL. The file holds tokens, so it is written with
mode 0600 in a 0700 directory, replaced atomically.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from wasmgrid.client import DEFAULT_URL

DEFAULT_PROFILE = "default"


class ConfigError(Exception):
    """The config file cannot be read, or names no such profile."""


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/wasmgrid/config.toml`` (``~/.config/wasmgrid/config.toml``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "wasmgrid" / "config.toml"


@dataclass
class Profile:
    """One gateway and the token to use with it."""

    url: str = ""
    token: str = ""


@dataclass
class Config:
    """The whole config file."""

    path: Path
    default_profile: str = DEFAULT_PROFILE
    profiles: dict[str, Profile] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        """The config at `path` (default :func:`config_path`); empty when there is none."""
        path = path or config_path()
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        profiles: dict[str, Profile] = {}
        raw = doc.get("profiles", {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: [profiles] must be a table")
        for name, values in raw.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: profiles.{name} must be a table")
            profiles[name] = Profile(str(values.get("url", "")), str(values.get("token", "")))
        return cls(path, str(doc.get("default_profile", DEFAULT_PROFILE)), profiles)

    def save(self) -> None:
        """Write the file (0600, directory 0700) atomically."""
        doc: dict[str, object] = {"default_profile": self.default_profile}
        doc["profiles"] = {
            name: {k: v for k, v in (("url", p.url), ("token", p.token)) if v}
            for name, p in sorted(self.profiles.items())
        }
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            tomli_w.dump(doc, f)
        os.chmod(partial, 0o600)  # an older .tmp may have had other bits
        os.replace(partial, self.path)


@dataclass(frozen=True)
class Target:
    """Where a command goes and with which token."""

    url: str
    token: str | None
    profile: str


def resolve_target(
    config: Config,
    *,
    url: str | None,
    token: str | None,
    profile: str | None,
) -> Target:
    """Flags over environment over profile over the local default."""
    named = profile or os.environ.get("WASMGRID_PROFILE")
    if named and named not in config.profiles:
        raise ConfigError(
            f"no profile {named!r} in {config.path}; create it with"
            f" `wasmgrid login --profile {named}`"
        )
    chosen = named or config.default_profile
    saved = config.profiles.get(chosen, Profile())
    return Target(
        url=(url or os.environ.get("WASMGRID_URL") or saved.url or DEFAULT_URL).rstrip("/"),
        token=token or os.environ.get("WASMGRID_TOKEN") or saved.token or None,
        profile=chosen,
    )
