"""Checks of request fields that do not need the engine: env, args, call arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.runtime.sandbox import Signature, Value

MAX_ENV_BYTES = 64 * 1024
MAX_ARGS = 256
MAX_ARGS_BYTES = 64 * 1024
MAX_NAME_BYTES = 256
MAX_CALL_ARGS = 64


def check_env(env: Sequence[tuple[str, str]], field: str = "env") -> tuple[tuple[str, str], ...]:
    """Names 1..256 bytes without '=' or NUL, values without NUL, 64 KiB in total."""
    total = 0
    for name, value in env:
        # An ASCII string's length is its UTF-8 size: no encoding for the usual variable.
        size = len(name) if name.isascii() else len(name.encode())
        if not 0 < size <= MAX_NAME_BYTES or "=" in name or "\0" in name or "\0" in value:
            _refuse_env(env, field)
        total += size + (len(value) if value.isascii() else len(value.encode())) + 2
    if total > MAX_ENV_BYTES:
        raise InvalidArgument(f"{field} is {total} bytes in total; the limit is {MAX_ENV_BYTES}")
    return tuple(env)


def _refuse_env(env: Sequence[tuple[str, str]], field: str) -> NoReturn:
    """Raise for the first variable check_env refuses, naming it and why."""
    for i, (name, value) in enumerate(env):
        if not 0 < len(name.encode()) <= MAX_NAME_BYTES:
            raise InvalidArgument(f"{field}[{i}].name must be 1..{MAX_NAME_BYTES} bytes")
        if "=" in name or "\0" in name:
            raise InvalidArgument(f"{field}[{i}].name {name[:64]!r} must not contain '=' or NUL")
        if "\0" in value:
            raise InvalidArgument(f"{field}[{i}].value of {name[:64]!r} must not contain NUL")
    raise AssertionError("check_env refused an environment _refuse_env accepts")


def check_args(args: Sequence[str], field: str = "args") -> tuple[str, ...]:
    """At most 256 args, 64 KiB in total, no NUL."""
    if len(args) > MAX_ARGS:
        raise InvalidArgument(f"{field} has {len(args)} entries; the limit is {MAX_ARGS}")
    total = 0
    for i, arg in enumerate(args):
        if "\0" in arg:
            raise InvalidArgument(f"{field}[{i}] must not contain NUL")
        total += len(arg.encode()) + 1
    if total > MAX_ARGS_BYTES:
        raise InvalidArgument(f"{field} is {total} bytes in total; the limit is {MAX_ARGS_BYTES}")
    return tuple(args)


def _listing(functions: dict[str, Signature]) -> str:
    names = sorted(n for n in functions if n != "_initialize")
    shown = ", ".join(str(functions[n]) for n in names[:20])
    return shown + (f", … ({len(names)} in all)" if len(names) > 20 else "") or "none"


def check_call(
    functions: dict[str, Signature], name: str, args: Sequence[Value], digest: str
) -> Signature:
    """The export's signature if `args` match it exactly; otherwise INVALID_ARGUMENT."""
    if not name or len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidArgument(f"function must be 1..{MAX_NAME_BYTES} bytes, got {name[:64]!r}")
    sig = functions.get(name)
    if sig is None:
        raise InvalidArgument(
            f"module {digest} has no exported function {name[:64]!r};"
            f" exported functions: {_listing(functions)}"
        )
    if not sig.callable:
        raise InvalidArgument(
            f"export {sig} cannot be called through Call: only i32/i64/f32/f64 params and"
            " results are supported"
        )
    if len(args) > MAX_CALL_ARGS or len(args) != len(sig.params):
        raise InvalidArgument(f"export {sig} takes {len(sig.params)} argument(s), got {len(args)}")
    for i, ((given, value), expected) in enumerate(zip(args, sig.params, strict=True)):
        if given != expected:
            raise InvalidArgument(f"args[{i}] of export {sig} must be {expected}, got {given}")
        if given in ("f32", "f64") and not isinstance(value, float):
            raise InvalidArgument(f"args[{i}] of export {sig} must be a float")
    return sig
