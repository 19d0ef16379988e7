"""The cache service's settings: every field is a ``WASMGRID_CACHE_<FIELD>`` env var."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from wasmgrid.common.settings import REDIS_URL_ENV, ServiceSettings, service_config, shared_env

MIB = 1024 * 1024


class CacheSettings(ServiceSettings):
    """Configuration of the cache service (see services/cache/README.md)."""

    # populate_by_name: tests and embedders can pass `redis_url=` despite its env aliases
    # (merged, so it holds whether or not the kit's service_config already sets it).
    model_config = SettingsConfigDict(**{**service_config("CACHE"), "populate_by_name": True})

    grpc_port: int = Field(50053, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(9093, ge=0, le=65535, description="Prometheus /metrics port")

    redis_url: str = Field(
        "",
        validation_alias=shared_env("CACHE", "redis_url", REDIS_URL_ENV),
        description="shared tier (L2); empty = memory only",
    )
    replica_id: str = Field(
        "",
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]*$",
        description="id in invalidation messages; empty = random per start",
    )
    redis_timeout_seconds: float = Field(
        1.0, gt=0, le=30, description="connect and command timeout for Redis"
    )
    redis_backoff_max_seconds: float = Field(
        5.0, gt=0, le=300, description="cap of the reconnect backoff after a Redis outage"
    )
    subscription_ping_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="PING an idle invalidation subscription this often; "
        "no answer within 2 intervals + redis_timeout_seconds = outage",
    )
    shared_ttl_cap_ms: int = Field(
        24 * 3600 * 1000,
        ge=1000,
        description="longest life of an L2 entry (also for entries that never expire in L1)",
    )

    trace_rpcs: bool = Field(
        True,
        description="OpenTelemetry server spans for CacheService RPCs; false trades them "
        "for throughput (callers' client spans still time every call)",
    )
    adaptive_window: bool = Field(
        True,
        description="size each W-TinyLFU window by miniature simulations of a sampled share "
        "of the keys (namespaces of 1,600 entries or more); false keeps a fixed 1% window",
    )
    max_namespaces: int = Field(64, ge=1, le=4096)
    max_total_bytes: int = Field(
        256 * MIB, ge=64 * 1024, description="sum of every namespace's max_bytes (the L1 budget)"
    )
    default_max_bytes: int = Field(32 * MIB, ge=4096, description="max_bytes of a new namespace")
    default_max_entries: int = Field(
        0, ge=0, description="max_entries of a new namespace; 0 = none"
    )
    default_ttl_ms: int = Field(0, ge=0, description="default TTL of a new namespace; 0 = none")
    max_ttl_ms: int = Field(30 * 24 * 3600 * 1000, ge=1000, description="longest TTL a Set may ask")
    max_key_bytes: int = Field(1024, ge=16, le=64 * 1024)
    max_value_bytes: int = Field(4 * MIB, ge=1024, description="largest value (uncompressed)")
    max_batch: int = Field(1000, ge=1, le=100_000, description="keys per GetMany/SetMany")
    sweep_interval_seconds: float = Field(
        1.0, gt=0, le=60, description="how often expired entries are removed"
    )
    compress_in_thread_bytes: int = Field(
        256 * 1024, ge=0, description="values at least this big are (de)compressed off the loop"
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> CacheSettings:
        if self.default_max_bytes > self.max_total_bytes:
            raise ValueError(
                f"default_max_bytes {self.default_max_bytes} exceeds "
                f"max_total_bytes {self.max_total_bytes}"
            )
        if self.max_value_bytes + self.max_key_bytes + 64 * 1024 > self.max_message_bytes:
            raise ValueError(
                f"max_value_bytes {self.max_value_bytes} does not fit in "
                f"max_message_bytes {self.max_message_bytes}"
            )
        return self

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value
