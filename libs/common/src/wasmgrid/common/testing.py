"""Helpers for tests of wasmgrid services (shared, so no test suite keeps its own copy)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import asyncpg
import grpc

from wasmgrid.common.channel import create_channel
from wasmgrid.common.server import Service, ServiceRunner
from wasmgrid.common.settings import ServiceSettings

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now (the kernel's pick).

    Another process may take it before the caller binds it; servers started on port 0
    avoid that race, so use this only where a port must be named up front (a child
    process's settings, an embedded database).
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _timed_out(description: str, timeout: float, last: object) -> AssertionError:
    return AssertionError(f"timed out after {timeout}s waiting for {description}; last: {last!r}")


async def poll_until(
    check: Callable[[], Awaitable[T | None]],
    description: str,
    timeout: float = 20.0,
    interval: float = 0.02,
) -> T:
    """Await `check` until it returns something truthy and return that; fail at the deadline.

    Tests wait for a condition this way instead of sleeping a fixed time: fast when the
    system is fast, patient when a shared machine is slow, and the failure names what
    never happened and the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise _timed_out(description, timeout, last)
        await asyncio.sleep(interval)


class Poll(Protocol):
    """The type of :func:`poll_until`, for fixtures that hand it to tests."""

    async def __call__(
        self,
        check: Callable[[], Awaitable[T | None]],
        description: str,
        timeout: float = ...,
        interval: float = ...,
    ) -> T: ...


def wait_until(
    check: Callable[[], T | None],
    description: str,
    timeout: float = 20.0,
    interval: float = 0.1,
) -> T:
    """:func:`poll_until` for synchronous code (tests that drive subprocesses over HTTP)."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise _timed_out(description, timeout, last)
        time.sleep(interval)


async def expect_rpc_error(code: grpc.StatusCode, call: Awaitable[object], *fragments: str) -> str:
    """Await `call`, which must fail with `code` and details holding every fragment (the
    field, the value, the limit a refusal names); return the details."""
    try:
        await call
    except grpc.aio.AioRpcError as err:
        details = err.details() or ""
        if err.code() != code:
            raise AssertionError(f"expected {code.name}, got {err.code().name}: {details}") from err
        missing = [f for f in fragments if f not in details]
        if missing:
            raise AssertionError(f"{code.name} details {details!r} lack {missing}") from err
        return details
    raise AssertionError(f"expected {code.name}; the call succeeded")


async def create_database(admin_dsn: str, prefix: str = "t") -> str:
    """A new, empty database on the server of `admin_dsn`; returns its (random) name."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')  # a name made here, never input
    finally:
        await conn.close()
    return name


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drop database `name` even while clients are still connected to it."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def serve(
    service: Service,
    settings: ServiceSettings,
    *,
    serve_metrics: bool = True,
    tracing: bool = True,
    timeout: float = 30.0,
    max_message_bytes: int = 16 * 1024 * 1024,
) -> tuple[ServiceRunner, grpc.aio.Channel]:
    """`service` started in this process on its settings' ports (0: a free one), and an
    untraced client channel to it with a default deadline of `timeout` seconds."""
    runner = ServiceRunner(service, settings, serve_metrics=serve_metrics, tracing=tracing)
    await runner.start()
    channel = create_channel(
        runner.address,
        default_timeout=timeout,
        max_message_bytes=max_message_bytes,
        tracing=False,
    )
    return runner, channel
