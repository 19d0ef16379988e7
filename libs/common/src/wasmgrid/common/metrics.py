"""Prometheus metrics shared by the kit, and the `/metrics` HTTP server (the RPC metrics
are :mod:`wasmgrid.common.rpcmetrics`)."""

from __future__ import annotations

import functools
import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import Gauge, start_http_server
from prometheus_client.metrics import MetricWrapperBase

#: Latency buckets (seconds) sized for loopback RPCs: 100 µs .. 30 s.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


@functools.cache
def child(metric: MetricWrapperBase, *labels: str) -> Any:
    """``metric.labels(*labels)``, resolved once per label set.

    A ``labels()`` lookup validates and locks on every call, which adds up on a request
    path. Only for label sets that are bounded by construction (modes, outcomes, fixed
    upstreams): the cache keeps every set it has seen.
    """
    return metric.labels(*labels)


SERVICE_UP = Gauge(
    "wasmgrid_service_ready",
    "1 when the service reports SERVING, 0 otherwise.",
    ["service"],
)
EVENT_LOOP_TASKS = Gauge(
    "wasmgrid_event_loop_tasks",
    "Asyncio tasks alive on the service's event loop, sampled every readiness interval:"
    " a count that keeps growing under steady traffic is a leak (make soak watches it).",
    ["service"],
    multiprocess_mode="all",
)


class MetricsServer:
    """The Prometheus exposition endpoint on its own port, served from a thread."""

    def __init__(self, host: str, port: int) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, addr=host)
        self.port: int = self._server.server_port

    def close(self) -> None:
        """Stop serving and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
