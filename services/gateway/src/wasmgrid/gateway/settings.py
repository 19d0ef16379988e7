"""Gateway configuration: every field is a ``WASMGRID_GATEWAY_<FIELD>`` env var."""

from __future__ import annotations

from pydantic import AliasChoices, Field, ValidationInfo, field_validator

from wasmgrid.common.settings import REDIS_URL_ENV, ServiceSettings, service_config, shared_env
from wasmgrid.gateway.balancer import POLICIES, Policy


class GatewaySettings(ServiceSettings):
    """The HTTP edge. ``grpc_port`` serves only grpc.health.v1 (and reflection)."""

    model_config = service_config("GATEWAY")

    grpc_port: int = Field(50050, ge=0, le=65535, description="gRPC health port")
    http_host: str = Field("127.0.0.1", description="address the HTTP server binds")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP port (also /metrics)")
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="also serve /metrics on a port of its own (0: only on the HTTP port);"
        " replicas that share the HTTP port need one each",
    )
    reuse_port: bool = Field(
        False,
        description="SO_REUSEPORT on the HTTP and gRPC ports: replicas on one host share"
        " them and the kernel spreads connections over the replicas",
    )

    runtime_targets: str = Field(
        "127.0.0.1:50051",
        description="runtime replicas: comma list of host:port[=weight], or dns:///host:port",
    )
    marketplace_addr: str = Field("127.0.0.1:50052", min_length=1)
    cache_addr: str = Field("127.0.0.1:50053", description="empty: no response cache")
    monitor_addr: str = Field("127.0.0.1:50054", description="empty: /v1/health etc. answer 503")
    redis_url: str = Field(
        "",
        validation_alias=shared_env("GATEWAY", "redis_url", REDIS_URL_ENV),
        description="shared rate limits; empty: per-process limits in memory",
    )
    routes_file: str = Field("", description="YAML routes file; empty: no custom routes")
    routes_poll_seconds: float = Field(2.0, gt=0, le=300)

    runtime_connections: int = Field(
        4,
        ge=1,
        le=64,
        description="HTTP/2 connections per runtime replica, used in turn: a runtime's"
        " worker processes share its port (SO_REUSEPORT), and one connection reaches one",
    )
    runtime_streams: bool = Field(
        True,
        description="send Invoke and Call as messages on one stream per runtime connection"
        " (RuntimeStreamService) instead of a unary RPC each: a fraction of the CPU per call;"
        " a runtime that does not serve the stream gets unary calls",
    )
    balancer_policy: Policy = "consistent_hash"
    hash_balance_factor: float = Field(
        1.25,
        ge=0,
        le=100,
        description="consistent_hash with bounded loads: a replica takes a module's call"
        " while it has at most this many times its share of the calls in flight, else the"
        " next replica on the ring does; 0 turns the bound off (a hot module then stays on"
        " one replica however busy); otherwise at least 1",
    )
    dns_refresh_seconds: float = Field(10.0, gt=0, le=3600)
    health_check_interval_seconds: float = Field(2.0, gt=0, le=300)
    health_check_timeout_seconds: float = Field(1.0, gt=0, le=60)
    health_watch: bool = Field(
        True,
        description="follow each runtime's grpc.health.v1 Watch stream besides the checks,"
        " so a replica that starts draining leaves the rotation at once",
    )
    outlier_consecutive_failures: int = Field(5, ge=1, le=1000)
    outlier_base_ejection_seconds: float = Field(1.0, gt=0, le=3600)
    outlier_max_ejection_seconds: float = Field(60.0, gt=0, le=86400)
    outlier_max_ejection_percent: float = Field(50.0, ge=0, le=100)
    retry_budget_ratio: float = Field(0.2, ge=0, le=0.2, description="retries ≤ this × requests")
    max_attempts: int = Field(3, ge=1, le=5, description="tries per call, first one included")

    resolve_cache_ttl_seconds: float = Field(
        2.0, ge=0, le=60, description="how long ns/name@req → digest is reused"
    )
    resolve_cache_max_entries: int = Field(10_000, ge=1)
    resolve_stale_seconds: float = Field(
        3600.0,
        ge=0,
        le=7 * 86400,
        description="how long a last resolution serves while the registry cannot answer",
    )
    resolve_refresh_timeout_seconds: float = Field(
        1.0, gt=0, le=60, description="deadline of a Resolve that a last resolution backs"
    )
    token_cache_ttl_seconds: float = Field(5.0, ge=0, le=60)
    invoke_timeout_seconds: float = Field(10.0, gt=0, le=300, description="default call deadline")
    upstream_timeout_seconds: float = Field(10.0, gt=0, le=300, description="registry/cache calls")
    relay_timeout_seconds: float = Field(
        4.0,
        gt=0,
        le=300,
        description="REST calls relayed to a service: past it, 503 with Retry-After",
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="invoke request body cap")
    max_publish_bytes: int = Field(
        2 * 1024 * 1024 * 1024 + 1024 * 1024,
        ge=1024,
        description="ceiling of any publish body; each namespace's own cap (its module and"
        " assets caps from the marketplace) applies below it",
    )
    namespace_limits_ttl_seconds: float = Field(
        30.0, ge=0, le=3600, description="how long a namespace's size caps are remembered"
    )
    max_in_flight: int = Field(1000, ge=1, description="concurrent HTTP requests before 503")
    auth_failures_per_minute: int = Field(
        10, ge=0, le=100_000, description="401s per client address before 429s (0: no limit)"
    )
    invoke_concurrency: int = Field(
        32, ge=1, le=4096, description="module calls running at once; the rest queue"
    )
    invoke_queue_seconds: float = Field(
        0.5, ge=0, le=60, description="longest a module call waits to start before a 503"
    )
    max_local_redirects: int = Field(3, ge=0, le=10)
    stderr_excerpt_bytes: int = Field(1024, ge=0, le=65536, description="in guest problems")
    cgi_max_header_bytes: int = Field(16 * 1024, ge=256, le=1024 * 1024)
    access_log: bool = Field(True, description="one JSON line per request")
    # The kit's drain delay, under the gateway's own name first (the older one).
    drain_seconds: float = Field(
        0.0,
        ge=0,
        le=60,
        validation_alias=AliasChoices(
            "WASMGRID_GATEWAY_SHUTDOWN_DELAY_SECONDS", "WASMGRID_GATEWAY_DRAIN_SECONDS"
        ),
        description="on SIGTERM: /readyz and health NOT_SERVING → wait this long → stop"
        " accepting HTTP",
    )
    trust_forwarded_for: bool = Field(False, description="client IP from X-Forwarded-For")

    rate_limit_fail_open: bool = Field(True, description="Redis down: allow (true) or 429")
    rate_limit_redis_timeout_seconds: float = Field(0.25, gt=0, le=10)
    rate_limit_max_keys: int = Field(100_000, ge=1, description="in-memory limiter state")

    cache_namespace: str = Field("gateway-responses", pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    cache_max_body_bytes: int = Field(1024 * 1024, ge=0, description="larger: not cached")
    near_cache_entries: int = Field(10_000, ge=0, description="in-process copy of cached replies")
    near_cache_max_ttl_seconds: float = Field(1.0, ge=0, le=60)

    @field_validator("balancer_policy", mode="before")
    @classmethod
    def _policy(cls, value: object) -> object:
        if isinstance(value, str) and value not in POLICIES:
            raise ValueError(f"must be one of {', '.join(POLICIES)}")
        return value

    @field_validator("reuse_port")
    @classmethod
    def _reuse_port(cls, value: bool, info: ValidationInfo) -> bool:
        # A scrape of a shared port reaches one replica at random: its counters would
        # seem to jump back and forth.
        if value and not info.data.get("metrics_port"):
            raise ValueError(
                "replicas sharing the HTTP port need WASMGRID_GATEWAY_METRICS_PORT set, one"
                " port each: a scrape of the shared port reaches one replica at random"
            )
        return value

    @field_validator("runtime_targets")
    @classmethod
    def _targets(cls, value: str) -> str:
        parse_targets(value)
        return value


def parse_targets(text: str) -> tuple[str | None, list[tuple[str, int]]]:
    """``dns:///host:port`` → (dns name, []); ``a:1,b:2=3`` → (None, [(a:1, 1), (b:2, 3)])."""
    text = text.strip()
    if text.startswith("dns:///"):
        target = text[len("dns:///") :]
        host, sep, port = target.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{text!r}: expected dns:///host:port")
        return target, []
    out: list[tuple[str, int]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        addr, sep, weight = item.partition("=")
        host, colon, port = addr.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r}: expected host:port[=weight]")
        w = 1
        if sep:
            if not weight.isdigit() or not 1 <= int(weight) <= 100:
                raise ValueError(f"{item!r}: weight must be 1..100")
            w = int(weight)
        out.append((addr, w))
    if not out:
        raise ValueError("at least one runtime target is required")
    return None, out
