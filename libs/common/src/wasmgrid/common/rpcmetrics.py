"""The kit's RPC metrics: started, handled by code, latency and in flight, per method.

Counted in plain numbers and turned into metrics only when ``/metrics`` is scraped (a
collector in the default registry). prometheus_client's own counters and histograms
take a lock and check their arguments on every update; the four updates of every RPC
cost a small RPC more than the rest of the kit's wrapper. The numbers are changed only
on the thread of the event loop that serves the RPCs, so they need no lock; a scrape
reads them from another thread, one value at a time, as prometheus_client's do.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, the runtime's workers) every value
must go through prometheus_client's value files, so there the kit updates ordinary
prometheus_client metrics of the same names instead.

Exposed: ``grpc_server_started_total``, ``grpc_server_handled_total`` (with
``grpc_code``), ``grpc_server_handling_seconds`` (histogram, :data:`LATENCY_BUCKETS`),
labelled ``grpc_service``, ``grpc_method``, ``grpc_type``; and
``grpc_server_in_flight`` labelled with the kit's service name.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import grpc
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from wasmgrid.common.metrics import LATENCY_BUCKETS

_METHOD_LABELS = ("grpc_service", "grpc_method", "grpc_type")
_STARTED = ("grpc_server_started_total", "RPCs started on the server.")
_HANDLED = ("grpc_server_handled_total", "RPCs completed on the server, by status code.")
_LATENCY = ("grpc_server_handling_seconds", "Time from RPC start to completion on the server.")
_IN_FLIGHT = ("grpc_server_in_flight", "RPCs being handled now.")

_BOUNDS = (*LATENCY_BUCKETS, float("inf"))
# The bucket labels exactly as prometheus_client writes them.
_LE = tuple(floatToGoString(bound) for bound in _BOUNDS)  # type: ignore[no-untyped-call]


class MethodMetrics(Protocol):
    """One method's metrics as the handler wrapper updates them."""

    def begin(self) -> float:
        """Count an RPC started; its start time (``time.perf_counter``)."""
        ...

    def end(self, start: float, code: grpc.StatusCode) -> None:
        """Count the RPC that started at `start` as handled with `code`."""
        ...


class MethodCounts:
    """One method's numbers (shared by every server of the process, as a metric's
    labelled child would be)."""

    __slots__ = ("buckets", "collector", "created", "handled", "labels", "started", "sum")

    def __init__(self, collector: RpcCollector, labels: tuple[str, str, str]) -> None:
        self.collector = collector
        self.labels = labels
        self.created = time.time()
        self.started = 0
        # Per bucket, not cumulative: one increment per RPC; summed up when scraped.
        self.buckets = [0] * len(_BOUNDS)
        self.sum = 0.0
        self.handled: dict[grpc.StatusCode, int] = {}

    def begin(self) -> float:
        """Count an RPC started; its start time."""
        self.started += 1
        return time.perf_counter()

    def end(self, start: float, code: grpc.StatusCode) -> None:
        """Count the RPC that started at `start` as handled with `code`."""
        elapsed = time.perf_counter() - start
        self.buckets[bisect_left(_BOUNDS, elapsed)] += 1
        self.sum += elapsed
        handled = self.handled.get(code)
        if handled is None:
            self.collector.first_handled(self, code)
            handled = 0
        self.handled[code] = handled + 1


class RpcCollector:
    """Every :class:`MethodCounts` of the process, as metrics when scraped."""

    def __init__(self) -> None:
        self._methods: dict[tuple[str, str, str], MethodCounts] = {}
        # The kit's service name -> its methods, for the in-flight gauge.
        self._services: dict[str, dict[tuple[str, str, str], MethodCounts]] = {}
        # (method, code, first seen): a code's series appear in the order they began.
        self._handled: list[tuple[MethodCounts, grpc.StatusCode, float]] = []

    def method(self, service: str, labels: tuple[str, str, str]) -> MethodCounts:
        """The numbers of the method with `labels`, served by the kit of `service`."""
        counts = self._methods.get(labels)
        if counts is None:
            counts = self._methods[labels] = MethodCounts(self, labels)
        self._services.setdefault(service, {})[labels] = counts
        return counts

    def first_handled(self, counts: MethodCounts, code: grpc.StatusCode) -> None:
        """Note that `counts` handled an RPC with `code` for the first time."""
        self._handled.append((counts, code, time.time()))

    def describe(self) -> Iterable[Metric]:
        """The metric families (for the registry's check of duplicate names)."""
        return self._families()

    def _families(
        self,
    ) -> tuple[CounterMetricFamily, CounterMetricFamily, HistogramMetricFamily, GaugeMetricFamily]:
        return (
            CounterMetricFamily(*_STARTED, labels=_METHOD_LABELS),
            CounterMetricFamily(*_HANDLED, labels=(*_METHOD_LABELS, "grpc_code")),
            HistogramMetricFamily(*_LATENCY, labels=_METHOD_LABELS),
            GaugeMetricFamily(*_IN_FLIGHT, labels=("grpc_service",)),
        )

    def collect(self) -> Iterator[Metric]:
        """The four metrics as they are now."""
        started, handled, latency, in_flight = self._families()
        # Read by a scrape while the loop's thread counts: copies, finished before started
        # (so that started - finished is never below what was in flight).
        created = getattr(prometheus_metrics, "_use_created", True)
        finished: dict[tuple[str, str, str], int] = {}
        for labels, counts in list(self._methods.items()):
            buckets = list(counts.buckets)
            total = 0
            cumulative = []
            for le, count in zip(_LE, buckets, strict=True):
                total += count
                cumulative.append((le, float(total)))
            finished[labels] = total
            started.add_metric(
                labels, float(counts.started), created=counts.created if created else None
            )
            latency.add_metric(labels, cumulative, counts.sum)
            if created:
                named = dict(zip(_METHOD_LABELS, labels, strict=True))
                latency.add_sample(f"{_LATENCY[0]}_created", named, counts.created)
        for counts, code, first in list(self._handled):
            handled.add_metric(
                (*counts.labels, code.name),
                float(counts.handled.get(code, 0)),
                created=first if created else None,
            )
        for service, methods in list(self._services.items()):
            busy = sum(c.started - finished.get(k, 0) for k, c in list(methods.items()))
            in_flight.add_metric((service,), float(max(0, busy)))
        yield started
        yield handled
        yield latency
        yield in_flight


class _PrometheusMethodMetrics:
    """One method's metrics as prometheus_client metrics (multiprocess mode)."""

    def __init__(self, service: str, labels: tuple[str, str, str]) -> None:
        assert _PROMETHEUS is not None
        self._metrics = _PROMETHEUS
        self.labels = labels
        self.started = _PROMETHEUS.started.labels(*labels)
        self.latency = _PROMETHEUS.latency.labels(*labels)
        self.in_flight = _PROMETHEUS.in_flight.labels(service)
        self.handled: dict[grpc.StatusCode, Any] = {}

    def begin(self) -> float:
        self.started.inc()
        self.in_flight.inc()
        return time.perf_counter()

    def end(self, start: float, code: grpc.StatusCode) -> None:
        self.in_flight.dec()
        self.latency.observe(time.perf_counter() - start)
        handled = self.handled.get(code)
        if handled is None:
            handled = self.handled[code] = self._metrics.handled.labels(*self.labels, code.name)
        handled.inc()


class _PrometheusMetrics:
    def __init__(self) -> None:
        self.started = Counter(*_STARTED, _METHOD_LABELS)
        self.handled = Counter(*_HANDLED, (*_METHOD_LABELS, "grpc_code"))
        self.latency = Histogram(*_LATENCY, _METHOD_LABELS, buckets=LATENCY_BUCKETS)
        self.in_flight = Gauge(*_IN_FLIGHT, ["grpc_service"])


# Decided as prometheus_client decides its value class: by the environment at import.
_PROMETHEUS: _PrometheusMetrics | None = None
_COLLECTOR = RpcCollector()
if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
    _PROMETHEUS = _PrometheusMetrics()
else:
    REGISTRY.register(_COLLECTOR)


def method_metrics(service: str, labels: tuple[str, str, str]) -> MethodMetrics:
    """The metrics of the method with `labels` (service, method, type), served by the
    kit of `service` (the label of its in-flight gauge)."""
    if _PROMETHEUS is not None:
        return _PrometheusMethodMetrics(service, labels)
    return _COLLECTOR.method(service, labels)
