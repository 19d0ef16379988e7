"""The grammars of single values in the routes file: paths, hosts, module references,
durations, sizes, string lists.

Each validator raises ValueError with what follows the field path in an error (the
location comes from pydantic, see :mod:`.config`); the ``Annotated`` types carry them
into the pydantic models.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from wasmgrid.common import units
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.gateway.routes.model import TOKEN_SCOPES, ModuleRef, PathPattern

#: Path prefixes owned by the fixed HTTP API; a route may not shadow them.
RESERVED_PREFIXES = (
    "/v1/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    # The web pages under a prefix (``web.PAGES``).
    "/modules/",
    "/traces/",
    "/assets/",
)
#: Web pages at exactly these paths (with or without a final slash); "/statusboard" is free.
RESERVED_PAGES = ("/", "/status", "/publish")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Longest duration (timeouts, TTLs, windows) and largest size a routes file may set.
MAX_DURATION_SECONDS = 86_400
MAX_SIZE_BYTES = 1024**4

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]{0,31})\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()+,;=:@%-]+$")
_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: Stands in for the field name in the kit's unit errors; the location comes from pydantic.
_FIELD = "<field>"


def shown(value: Any) -> str:
    """`value` as an error shows it: its repr, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _units(parse: Callable[..., Any], value: Any, maximum: float) -> Any:
    try:
        return parse(value, _FIELD, positive=True, maximum=maximum)
    except InvalidArgument as exc:
        raise ValueError(exc.message.removeprefix(f"{_FIELD}: ")) from None


def check_duration(value: Any) -> float:
    """``500ms``, ``2s``, ``1m`` or seconds → seconds: above 0, at most a day."""
    seconds: float = _units(units.parse_duration, value, MAX_DURATION_SECONDS)
    return seconds


def check_size(value: Any) -> int:
    """``64KiB``, ``1MiB``, ``100KB`` or bytes → bytes: above 0, at most 1 TiB."""
    size: int = _units(units.parse_size, value, MAX_SIZE_BYTES)
    return size


def int_in(low: int, high: int) -> BeforeValidator:
    """A validator of whole numbers in `low`..`high` (true and false are not numbers)."""

    def check(value: Any) -> Any:
        if value is None:
            raise ValueError(f"must be an integer in {low}..{high}")
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{shown(value)} must be an integer in {low}..{high}")
        return value

    return BeforeValidator(check)


def check_strings(value: Any) -> Any:
    """One string or a list (of strings, checked item by item after this) → a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(value)
    raise ValueError(f"{shown(value)} must be a string or a list of strings")


def check_http_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """HTTP method names, upper-cased."""
    upper = tuple(m.upper() for m in methods)
    for method in upper:
        if method not in HTTP_METHODS:
            raise ValueError(f"{method!r} is not an HTTP method")
    return upper


def check_scopes(scopes: tuple[str, ...]) -> tuple[str, ...]:
    """Token scopes of the marketplace's ``Scope`` enum."""
    for scope in scopes:
        if scope not in TOKEN_SCOPES.choices:
            raise ValueError(f"{scope!r} is not a token scope ({', '.join(TOKEN_SCOPES.choices)})")
    return scopes


def parse_path(text: Any) -> PathPattern:
    """A route path (``/a/{param}/*``) → its pattern; ValueError says what is wrong."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise ValueError(f"{shown(text)} must be a string starting with '/'")
    if len(text) > 1024:
        raise ValueError("longer than 1024 characters")
    if text in RESERVED_PAGES or text.rstrip("/") in RESERVED_PAGES:
        raise ValueError(f"{text!r} is a page of the gateway, reserved")
    for reserved in RESERVED_PREFIXES:
        if text == reserved.rstrip("/") or text.startswith(reserved):
            raise ValueError(
                f"{text!r} is under {reserved!r}, reserved by the gateway (its API and pages)"
            )
    raw = text[1:].split("/") if text != "/" else []
    prefix = False
    if raw and raw[-1] == "*":
        prefix = True
        raw = raw[:-1]
    if raw and raw[-1] == "":
        raw = raw[:-1]
    seen: set[str] = set()
    for i, seg in enumerate(raw):
        if m := _PARAM.match(seg):
            if m.group(1) in seen:
                raise ValueError(f"parameter {{{m.group(1)}}} appears twice")
            seen.add(m.group(1))
        elif not seg or not _LITERAL.match(seg) or "*" in seg:
            raise ValueError(
                f"segment {i + 1} {seg!r} must be a literal, a {{param}}, or a final '*'"
            )
    return PathPattern(text, tuple(raw), prefix)


def check_host(value: Any) -> str | None:
    """An exact host or ``*.domain`` (not the apex), lower-cased; None: any host."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{shown(value)} must be a host name")
    host = value.strip().lower()
    labels = host[2:].split(".") if host.startswith("*.") else host.split(".")
    if not labels or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not a host name or '*.domain'")
    return host


def check_module(value: Any) -> ModuleRef:
    """``ns/name[@requirement]``."""
    if not isinstance(value, str):
        raise ValueError(f"{shown(value)} is not 'namespace/name[@requirement]'")
    return ModuleRef.parse(value)


Duration = Annotated[float, BeforeValidator(check_duration)]
Size = Annotated[int, BeforeValidator(check_size)]
#: Absent: None (no limit set); an explicit null is refused like any other bad value.
OptionalDuration = Annotated[float | None, BeforeValidator(check_duration)]
OptionalSize = Annotated[int | None, BeforeValidator(check_size)]
Strings = Annotated[tuple[str, ...], BeforeValidator(check_strings)]
HttpMethods = Annotated[
    tuple[str, ...], BeforeValidator(check_strings), AfterValidator(check_http_methods)
]
HeaderNames = Annotated[
    tuple[str, ...],
    BeforeValidator(check_strings),
    AfterValidator(lambda t: tuple(h.lower() for h in t)),
]
