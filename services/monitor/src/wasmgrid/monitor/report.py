"""Performance reports: per route, per module and per RPC, with recommendations.

Per-route and per-module numbers come from spans (module names and routes are
never Prometheus labels: they are unbounded), per-RPC numbers from the
scraped ``grpc_server_*`` metrics. Span attributes read:

- gateway HTTP server spans: ``http.route``, ``http.response.status_code``
  (or ``http.status_code``), ``wasmgrid.cache.hit`` (bool),
  ``wasmgrid.request.digest`` and ``wasmgrid.response.digest``;
- runtime execution spans (``wasm.invoke`` / ``wasm.call``): ``wasm.module``
  (else ``wasm.digest``), ``wasm.outcome``, ``wasm.fuel_consumed`` and
  ``wasm.fuel_limit``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

from wasmgrid.monitor.query import Result
from wasmgrid.monitor.rules import Severity
from wasmgrid.monitor.traces import StoredSpan

#: Spans decoded per report at most (newest first), to bound its cost.
MAX_SPANS_ANALYSED = 200_000
#: A call "near the fuel limit" used at least this fraction of it.
FUEL_NEAR = 0.9
IDENTICAL_FOR_CACHING = 0.8
ERROR_RATIO_ALERT = 0.05
SLOW_P99_SECONDS = 1.0
FUEL_EXHAUSTED_ALERT = 0.01
FUEL_NEAR_ALERT = 0.10
TIMEOUT_ALERT = 0.01


@dataclass(frozen=True)
class Latency:
    """Count, percentiles and error ratio of one subject."""

    count: int
    p50: float
    p95: float
    p99: float
    error_ratio: float


@dataclass(frozen=True)
class RouteStats:
    """One gateway route."""

    route: str
    latency: Latency
    cache_hit_ratio: float
    identical_ratio: float


@dataclass(frozen=True)
class ModuleStats:
    """One module."""

    module: str
    latency: Latency
    fuel_exhausted_ratio: float
    fuel_near_ratio: float
    timeout_ratio: float


@dataclass(frozen=True)
class RpcStats:
    """One gRPC method of one service."""

    service: str
    grpc_service: str
    grpc_method: str
    latency: Latency


@dataclass(frozen=True)
class Recommendation:
    """One suggestion with its numbers."""

    subject_kind: str
    subject: str
    kind: str
    severity: Severity
    message: str


@dataclass
class Report:
    """A whole report."""

    routes: list[RouteStats] = field(default_factory=list)
    modules: list[ModuleStats] = field(default_factory=list)
    rpcs: list[RpcStats] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    spans_analysed: int = 0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank q-quantile of sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency(durations: list[float], errors: int) -> Latency:
    """Latency summary of raw durations (seconds)."""
    d = sorted(durations)
    n = len(d)
    return Latency(
        n, percentile(d, 0.5), percentile(d, 0.95), percentile(d, 0.99), errors / n if n else 0.0
    )


def _attrs(span: OtlpSpan) -> dict[str, AnyValue]:
    return {kv.key: kv.value for kv in span.attributes}


def _num(value: AnyValue | None) -> float | None:
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "int_value":
        return float(value.int_value)
    if kind == "double_value":
        return value.double_value
    if kind == "string_value":
        try:
            return float(value.string_value)
        except ValueError:
            return None
    return None


@dataclass
class _RouteAcc:
    durations: list[float] = field(default_factory=list)
    errors: int = 0
    cache_known: int = 0
    cache_hits: int = 0
    digest_known: int = 0
    identical: int = 0
    last_response: dict[str, str] = field(default_factory=dict)

    def add(self, seconds: float, error: bool, attrs: dict[str, AnyValue]) -> None:
        """Count one gateway server span of this route."""
        self.durations.append(seconds)
        status = _num(attrs.get("http.response.status_code") or attrs.get("http.status_code"))
        if error or (status is not None and status >= 500):
            self.errors += 1
        hit = attrs.get("wasmgrid.cache.hit")
        if hit is not None:
            self.cache_known += 1
            self.cache_hits += bool(hit.bool_value or hit.string_value == "true")
        req, resp = attrs.get("wasmgrid.request.digest"), attrs.get("wasmgrid.response.digest")
        if req is not None and resp is not None:
            self.digest_known += 1
            previous = self.last_response.get(req.string_value)
            self.identical += previous == resp.string_value
            if len(self.last_response) < 100_000:
                self.last_response[req.string_value] = resp.string_value


@dataclass
class _ModuleAcc:
    durations: list[float] = field(default_factory=list)
    errors: int = 0
    fuel_exhausted: int = 0
    timeouts: int = 0
    fuel_known: int = 0
    fuel_near: int = 0

    def add(self, seconds: float, error: bool, attrs: dict[str, AnyValue]) -> None:
        """Count one runtime ``wasm.*`` span of this module."""
        self.durations.append(seconds)
        outcome = attrs.get("wasm.outcome")
        outcome_name = outcome.string_value if outcome is not None else ""
        if error or outcome_name not in ("", "OK", "EXIT"):
            self.errors += 1
        self.fuel_exhausted += outcome_name == "FUEL_EXHAUSTED"
        self.timeouts += outcome_name == "TIMEOUT"
        used, limit = _num(attrs.get("wasm.fuel_consumed")), _num(attrs.get("wasm.fuel_limit"))
        if used is not None and limit:
            self.fuel_known += 1
            self.fuel_near += used >= FUEL_NEAR * limit


def analyse_spans(spans: Iterable[StoredSpan]) -> tuple[list[RouteStats], list[ModuleStats], int]:
    """Route and module statistics from spans (oldest first)."""
    routes: dict[str, _RouteAcc] = defaultdict(_RouteAcc)
    modules: dict[str, _ModuleAcc] = defaultdict(_ModuleAcc)
    analysed = 0
    for stored in spans:
        is_wasm = stored.name.startswith("wasm.")
        if not is_wasm and stored.kind != OtlpSpan.SPAN_KIND_SERVER:
            continue
        if analysed >= MAX_SPANS_ANALYSED:
            break
        analysed += 1
        span = stored.decode()
        attrs = _attrs(span)
        seconds = (stored.end - stored.start) / 1e9
        if is_wasm:
            name_value = attrs.get("wasm.module") or attrs.get("wasm.digest")
            if name_value is not None:
                modules[name_value.string_value or "unknown"].add(seconds, stored.error, attrs)
            continue
        route_value = attrs.get("http.route")
        if route_value is not None and route_value.string_value:
            routes[route_value.string_value].add(seconds, stored.error, attrs)
    route_stats = [
        RouteStats(
            route,
            latency(acc.durations, acc.errors),
            acc.cache_hits / acc.cache_known if acc.cache_known else -1.0,
            acc.identical / acc.digest_known if acc.digest_known else -1.0,
        )
        for route, acc in routes.items()
    ]
    module_stats = [
        ModuleStats(
            module,
            latency(acc.durations, acc.errors),
            acc.fuel_exhausted / len(acc.durations),
            acc.fuel_near / acc.fuel_known if acc.fuel_known else -1.0,
            acc.timeouts / len(acc.durations),
        )
        for module, acc in modules.items()
    ]
    route_stats.sort(key=lambda s: (-s.latency.count, s.route))
    module_stats.sort(key=lambda s: (-s.latency.count, s.module))
    return route_stats, module_stats, analysed


def _key(labels: Mapping[str, str]) -> tuple[str, str, str]:
    return labels.get("job", ""), labels.get("grpc_service", ""), labels.get("grpc_method", "")


def rpc_stats(
    counts: Sequence[Result],
    errors: Sequence[Result],
    p50: Sequence[Result],
    p95: Sequence[Result],
    p99: Sequence[Result],
) -> list[RpcStats]:
    """Per-method statistics from metric query results grouped by job/grpc_service/method."""
    err = {_key(r.labels): r.value for r in errors}
    q50 = {_key(r.labels): r.value for r in p50}
    q95 = {_key(r.labels): r.value for r in p95}
    q99 = {_key(r.labels): r.value for r in p99}
    out = []
    for r in counts:
        k = _key(r.labels)
        n = r.value
        if n <= 0:
            continue
        out.append(
            RpcStats(
                k[0],
                k[1],
                k[2],
                Latency(
                    round(n),
                    q50.get(k, 0.0),
                    q95.get(k, 0.0),
                    q99.get(k, 0.0),
                    min(1.0, err.get(k, 0.0) / n),
                ),
            )
        )
    out.sort(key=lambda s: (-s.latency.count, s.service, s.grpc_service, s.grpc_method))
    return out


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def recommend(report: Report, min_count: int) -> list[Recommendation]:
    """Concrete suggestions from the numbers, most severe first."""
    recs: list[Recommendation] = []
    for r in report.routes:
        if r.latency.count >= min_count:
            recs += _route_recommendations(r)
    for m in report.modules:
        if m.latency.count >= min_count:
            recs += _module_recommendations(m)
    for s in report.rpcs:
        if s.latency.count >= min_count:
            recs += _rpc_recommendations(s)
    recs.sort(key=lambda r: (-int(r.severity), r.subject_kind, r.subject, r.kind))
    return recs


def _route_recommendations(r: RouteStats) -> list[Recommendation]:
    recs: list[Recommendation] = []
    if r.identical_ratio >= IDENTICAL_FOR_CACHING and r.cache_hit_ratio < 0.5:
        recs.append(
            Recommendation(
                "route",
                r.route,
                "enable_caching",
                Severity.INFO,
                f"route {r.route}: {_pct(r.identical_ratio)} of responses identical"
                f" to an earlier one for the same request — enable caching",
            )
        )
    if r.latency.error_ratio >= ERROR_RATIO_ALERT:
        recs.append(
            Recommendation(
                "route",
                r.route,
                "investigate_errors",
                Severity.CRITICAL,
                f"route {r.route}: {_pct(r.latency.error_ratio)} of"
                f" {r.latency.count} requests failed",
            )
        )
    if r.latency.p99 >= SLOW_P99_SECONDS:
        recs.append(
            Recommendation(
                "route",
                r.route,
                "reduce_latency",
                Severity.WARNING,
                f"route {r.route}: p99 {r.latency.p99:.2f}s (p50 {r.latency.p50:.3f}s)",
            )
        )
    return recs


def _module_recommendations(m: ModuleStats) -> list[Recommendation]:
    recs: list[Recommendation] = []
    if m.fuel_exhausted_ratio >= FUEL_EXHAUSTED_ALERT:
        recs.append(
            Recommendation(
                "module",
                m.module,
                "raise_fuel_limit",
                Severity.WARNING,
                f"module {m.module} hits its fuel limit in {_pct(m.fuel_exhausted_ratio)}"
                f" of {m.latency.count} calls — raise its fuel limit or optimise it",
            )
        )
    elif m.fuel_near_ratio >= FUEL_NEAR_ALERT:
        recs.append(
            Recommendation(
                "module",
                m.module,
                "raise_fuel_limit",
                Severity.INFO,
                f"module {m.module} uses over {_pct(FUEL_NEAR)} of its fuel limit in"
                f" {_pct(m.fuel_near_ratio)} of calls",
            )
        )
    if m.timeout_ratio >= TIMEOUT_ALERT:
        recs.append(
            Recommendation(
                "module",
                m.module,
                "raise_timeout",
                Severity.WARNING,
                f"module {m.module} runs out of time in {_pct(m.timeout_ratio)} of calls",
            )
        )
    other = m.latency.error_ratio - m.fuel_exhausted_ratio - m.timeout_ratio
    if other >= ERROR_RATIO_ALERT:
        recs.append(
            Recommendation(
                "module",
                m.module,
                "investigate_errors",
                Severity.WARNING,
                f"module {m.module} traps or fails in {_pct(other)} of calls",
            )
        )
    return recs


def _rpc_recommendations(s: RpcStats) -> list[Recommendation]:
    recs: list[Recommendation] = []
    subject = f"{s.service}:{s.grpc_service}/{s.grpc_method}"
    if s.latency.error_ratio >= ERROR_RATIO_ALERT:
        recs.append(
            Recommendation(
                "rpc",
                subject,
                "investigate_errors",
                Severity.CRITICAL,
                f"{subject}: {_pct(s.latency.error_ratio)} of {s.latency.count} calls"
                " end in a server error",
            )
        )
    if s.latency.p99 >= SLOW_P99_SECONDS:
        recs.append(
            Recommendation(
                "rpc",
                subject,
                "reduce_latency",
                Severity.WARNING,
                f"{subject}: p99 {s.latency.p99:.2f}s",
            )
        )
    return recs
