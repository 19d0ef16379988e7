"""The RPC metrics counted in plain numbers are exposed as prometheus_client's own metrics
of the same names would expose the same RPCs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.parser import text_string_to_metric_families

from wasmgrid.common.metrics import LATENCY_BUCKETS
from wasmgrid.common.rpcmetrics import RpcCollector

METHOD = ("grpc_service", "grpc_method", "grpc_type")
GET = ("wasmgrid.test.Store", "Get", "unary")
WATCH = ("wasmgrid.test.Store", "Watch", "server_stream")


class Reference:
    """The same metrics as prometheus_client's Counter, Histogram and Gauge."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.started = Counter(
            "grpc_server_started_total", "RPCs started on the server.", METHOD, registry=r
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            (*METHOD, "grpc_code"),
            registry=r,
        )
        self.latency = Histogram(
            "grpc_server_handling_seconds",
            "Time from RPC start to completion on the server.",
            METHOD,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "grpc_server_in_flight", "RPCs being handled now.", ["grpc_service"], registry=r
        )


def samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    text = generate_latest(registry).decode()
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def test_the_exposition_is_the_one_prometheus_client_metrics_would_give() -> None:
    ours, ref = RpcCollector(), Reference()
    registry = CollectorRegistry()
    registry.register(ours)
    methods = {labels: ours.method("store", labels) for labels in (GET, WATCH)}
    for labels in (GET, WATCH):  # a method's series exist from its registration on
        ref.started.labels(*labels)
        ref.latency.labels(*labels)
    ref.in_flight.labels("store")
    # (method, seconds, code): every bucket, a bound itself, past the last bucket.
    calls = [
        (GET, 0.00004, grpc.StatusCode.OK),
        (GET, 0.0003, grpc.StatusCode.OK),
        (WATCH, 0.7, grpc.StatusCode.CANCELLED),
        (GET, 0.004, grpc.StatusCode.NOT_FOUND),
        (GET, 45.0, grpc.StatusCode.OK),
        (WATCH, 3.0, grpc.StatusCode.OK),
        (GET, 0.02, grpc.StatusCode.NOT_FOUND),
    ]
    for labels, seconds, code in calls:
        counts = methods[labels]
        counts.begin()
        counts.end(time.perf_counter() - seconds, code)
        ref.started.labels(*labels).inc()
        ref.latency.labels(*labels).observe(seconds)
        ref.handled.labels(*labels, code.name).inc()
    methods[GET].begin()  # still in flight
    ref.started.labels(*GET).inc()
    ref.in_flight.labels("store").inc()

    got, want = samples(registry), samples(ref.registry)
    assert [(name, labels) for name, labels, _ in got] == [
        (name, labels) for name, labels, _ in want
    ]
    for (name, _, value), (_, _, expected) in zip(got, want, strict=True):
        if name.endswith("_created"):
            assert value == pytest.approx(expected, abs=60)
        elif name.endswith("_sum"):
            assert value == pytest.approx(expected, rel=1e-3)
        else:
            assert value == expected, name


def test_in_flight_counts_every_method_of_a_service_and_only_its_own() -> None:
    ours = RpcCollector()
    get, watch = ours.method("store", GET), ours.method("store", WATCH)
    other = ours.method("other", ("wasmgrid.test.Other", "Ping", "unary"))
    starts = [get.begin(), get.begin(), watch.begin(), other.begin()]
    get.end(starts[0], grpc.StatusCode.OK)

    def in_flight() -> dict[str, float]:
        return {
            s.labels["grpc_service"]: s.value
            for family in ours.collect()
            if family.name == "grpc_server_in_flight"
            for s in family.samples
        }

    assert in_flight() == {"store": 2.0, "other": 1.0}
    get.end(starts[1], grpc.StatusCode.OK)
    watch.end(starts[2], grpc.StatusCode.CANCELLED)
    assert in_flight() == {"store": 0.0, "other": 1.0}


def test_servers_of_one_process_add_up_in_one_series_per_method() -> None:
    ours = RpcCollector()
    registry = CollectorRegistry()
    registry.register(ours)
    for _ in range(2):  # two servers of the same service, each wrapping Get
        counts = ours.method("store", GET)
        counts.end(counts.begin(), grpc.StatusCode.OK)
    started = [v for name, _, v in samples(registry) if name == "grpc_server_started_total"]
    handled = [v for name, _, v in samples(registry) if name == "grpc_server_handled_total"]
    assert (started, handled) == ([2.0], [2.0])


def test_in_multiprocess_mode_the_counts_reach_the_supervisors_collector(tmp_path: Path) -> None:
    """A worker's RPCs go through prometheus_client's value files (the runtime's workers)."""
    worker = (
        "import grpc\n"
        "from wasmgrid.common.rpcmetrics import method_metrics\n"
        "m = method_metrics('store', ('wasmgrid.test.Store', 'Get', 'unary'))\n"
        "m.end(m.begin(), grpc.StatusCode.OK)\n"
        "m.begin()\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=60)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
    labels = dict(zip(METHOD, GET, strict=True))
    assert registry.get_sample_value("grpc_server_started_total", labels) == 2
    assert registry.get_sample_value("grpc_server_handled_total", labels | {"grpc_code": "OK"}) == 1
    assert registry.get_sample_value("grpc_server_handling_seconds_count", labels) == 1
