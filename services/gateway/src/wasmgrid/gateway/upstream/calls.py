"""What every call to a service behind the gateway shares: its latency metric and the
runtime's trailers (still compiling, busy, retry after)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import grpc
from prometheus_client import Histogram

from wasmgrid.common.errors import BUSY_TRAILER, COMPILING_TRAILER, RETRY_AFTER_TRAILER
from wasmgrid.common.metrics import LATENCY_BUCKETS, child

UPSTREAM_LATENCY = Histogram(
    "wasmgrid_gateway_upstream_seconds",
    "Latency of gRPC calls from the gateway, by upstream service, method and gRPC code.",
    ["upstream", "method", "code"],
    buckets=LATENCY_BUCKETS,
)

T = TypeVar("T")


def compiling_seconds(err: grpc.aio.AioRpcError) -> float | None:
    """How long the runtime has been compiling the module, when that is why it answered
    UNAVAILABLE (its trailer says so); None for any other error."""
    if err.code() != grpc.StatusCode.UNAVAILABLE:
        return None
    value = _trailer(err, COMPILING_TRAILER)
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def refused_busy(err: grpc.aio.AioRpcError) -> bool:
    """Whether the replica refused the call before starting it because it was full (its
    trailer says so): nothing ran, and another replica may take the call."""
    return (
        err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and _trailer(err, BUSY_TRAILER) is not None
    )


def retry_after_hint(err: grpc.aio.AioRpcError, default: int = 1) -> int:
    """The runtime's retry hint in whole seconds (at least 1)."""
    value = _trailer(err, RETRY_AFTER_TRAILER)
    return max(1, int(value)) if value is not None and value.isdigit() else default


def _trailer(err: grpc.aio.AioRpcError, name: str) -> str | None:
    metadata: Any = err.trailing_metadata() or ()
    for key, value in metadata:
        if key == name:
            return str(value)
    return None


async def timed(upstream: str, method: str, call: Awaitable[T]) -> T:
    """Await a gRPC call, recording its latency by upstream, method and code."""
    start = time.perf_counter()
    code = "OK"
    try:
        return await call
    except grpc.aio.AioRpcError as err:
        code = err.code().name
        raise
    finally:
        # Bounded: fixed upstreams, methods and status codes.
        child(UPSTREAM_LATENCY, upstream, method, code).observe(time.perf_counter() - start)
