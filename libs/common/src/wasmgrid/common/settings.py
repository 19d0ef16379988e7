"""Typed, env-only configuration shared by every service.

Each service subclasses :class:`ServiceSettings` and sets
``model_config = service_config("RUNTIME")`` so its fields become
``WASMGRID_RUNTIME_<FIELD>`` variables. :func:`load_settings` turns a bad value
into one line naming the variable and the value, then exits.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TypeVar

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)

#: Env vars shared by every service that needs them (no service prefix).
DATABASE_URL_ENV = "WASMGRID_DATABASE_URL"
REDIS_URL_ENV = "WASMGRID_REDIS_URL"


def service_config(service: str) -> SettingsConfigDict:
    """Settings config for one service: env prefix ``WASMGRID_<SERVICE>_``, no .env files."""
    return SettingsConfigDict(
        env_prefix=f"WASMGRID_{service.upper()}_",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
        populate_by_name=True,
    )


def shared_env(service: str, field: str, shared: str) -> AliasChoices:
    """Accept ``WASMGRID_<SERVICE>_<FIELD>`` first, then the suite-wide ``shared`` variable."""
    return AliasChoices(f"WASMGRID_{service.upper()}_{field.upper()}", shared)


class ServiceSettings(BaseSettings):
    """Fields every gRPC service has. Subclasses add their own and set ``model_config``."""

    model_config = service_config("COMMON")

    host: str = Field("127.0.0.1", description="address the gRPC and metrics servers bind")
    grpc_port: int = Field(0, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics port")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    log_json: bool = True
    grace_seconds: float = Field(10.0, gt=0, le=300, description="drain time on SIGTERM")
    drain_seconds: float = Field(
        0.0,
        ge=0,
        le=300,
        description="on SIGTERM, keep serving this long after health turns NOT_SERVING, so"
        " clients that health-check (the gateway) stop sending before the server stops",
    )
    max_concurrent_rpcs: int = Field(1000, ge=1, description="excess RPCs get RESOURCE_EXHAUSTED")
    max_message_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    readiness_interval_seconds: float = Field(2.0, gt=0, le=60)
    event_loop: str = Field(
        "uvloop",
        pattern=r"^(uvloop|asyncio)$",
        description="the process's event loop: uvloop (libuv; faster sockets and callbacks)"
        " or Python's own asyncio loop",
    )


def _env_names(settings_cls: type[BaseSettings], loc: tuple[int | str, ...]) -> list[str]:
    """The variables that set the field at `loc`, the one that is set (if any) first.

    pydantic reports a field read through an alias by the alias, not the field name.
    """
    if not loc:
        return ["?"]
    name = str(loc[0])
    field = settings_cls.model_fields.get(name)
    if field is None:
        field = next(
            (
                f
                for f in settings_cls.model_fields.values()
                if isinstance(f.validation_alias, AliasChoices)
                and name in f.validation_alias.choices
            ),
            None,
        )
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        choices = [str(c) for c in field.validation_alias.choices if isinstance(c, str)]
        return sorted(choices, key=lambda c: c not in os.environ)
    if field is not None and isinstance(field.validation_alias, str):
        return [field.validation_alias]
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper()]


_SECRET_WORDS = ("key", "token", "password", "secret")


def shown_value(var: str, value: object) -> str:
    """How a setting's value may appear in an error: secrets hidden, DSN passwords masked."""
    if any(word in var.lower() for word in _SECRET_WORDS):
        return "<redacted>"
    text = str(value)
    scheme, sep, rest = text.partition("://")
    if sep and "@" in rest:
        creds, _, host = rest.rpartition("@")
        if ":" in creds:
            text = f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return repr(text)


def load_settings(settings_cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment; on a bad value print one line and exit 2."""
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        names = _env_names(settings_cls, err.get("loc", ()))
        var = names[0]
        if err.get("type") == "missing":
            # The shared variable (e.g. WASMGRID_DATABASE_URL) is what most people set.
            line = f"wasmgrid: missing setting {' or '.join(reversed(names))}: it is required"
        else:
            value = os.environ.get(var, err.get("input"))
            line = (
                f"wasmgrid: invalid setting {var}={shown_value(var, value)}:"
                f" {err.get('msg', 'invalid')}"
            )
        print(line, file=sys.stderr)
        raise SystemExit(2) from None
