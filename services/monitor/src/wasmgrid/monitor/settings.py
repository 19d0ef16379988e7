"""The monitor's settings: every field is a ``WASMGRID_MONITOR_<FIELD>`` variable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from wasmgrid.common.settings import (
    DATABASE_URL_ENV,
    ServiceSettings,
    service_config,
    shared_env,
)
from wasmgrid.monitor.fleet import TargetSpec, parse_targets

DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "default_rules" / "default.yaml"


class MonitorSettings(ServiceSettings):
    """Configuration of the monitor service."""

    model_config = service_config("MONITOR")

    grpc_port: int = Field(50054, ge=0, le=65535, description="gRPC port (API + OTLP receivers)")
    metrics_port: int = Field(9094, ge=0, le=65535, description="Prometheus /metrics port")

    database_url: str = Field(
        validation_alias=shared_env("MONITOR", "database_url", DATABASE_URL_ENV),
        min_length=1,
        description="PostgreSQL DSN; rules, silences and the notification outbox live there",
    )
    database_wait_seconds: float = Field(30.0, ge=0, le=600)

    targets: Annotated[list[TargetSpec], NoDecode] = Field(
        default_factory=list,
        description="services to poll: 'name=HEALTH_ADDR|METRICS_URL' entries, comma-separated",
    )
    health_interval_seconds: float = Field(2.0, gt=0, le=300)
    health_timeout_seconds: float = Field(1.0, gt=0, le=60)
    failure_threshold: int = Field(2, ge=1, le=100, description="failed checks before a flip")
    dns_refresh_seconds: float = Field(15.0, gt=0, le=3600)
    status_history: int = Field(1000, ge=10, le=100_000, description="status changes kept")

    scrape_interval_seconds: float = Field(5.0, gt=0, le=300)
    scrape_timeout_seconds: float = Field(3.0, gt=0, le=60)
    scrape_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="exposition size cap")
    retention_seconds: float = Field(3600.0, ge=60, le=7 * 86400)
    max_series: int = Field(20_000, ge=100, le=2_000_000)
    prometheus_url: str = Field("", description="evaluate queries against this Prometheus")

    rules_file: Path | None = Field(DEFAULT_RULES_FILE, description="YAML rules; empty for none")
    evaluation_interval_seconds: float = Field(5.0, gt=0, le=300)
    resolved_retention_seconds: float = Field(900.0, ge=0, le=86400)
    max_alerts: int = Field(10_000, ge=10, le=1_000_000)

    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Alertmanager-format hooks"
    )
    alertmanager_url: str = Field("", description="push alerts to this Alertmanager (API v2)")
    external_url: str = Field("", description="externalURL/generatorURL in notifications")
    group_by: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["alertname"])
    group_wait_seconds: float = Field(0.0, ge=0, le=3600)
    group_interval_seconds: float = Field(10.0, ge=0, le=86400)
    repeat_interval_seconds: float = Field(4 * 3600.0, ge=1, le=7 * 86400)
    notify_timeout_seconds: float = Field(5.0, gt=0, le=120)
    notify_min_backoff_seconds: float = Field(1.0, gt=0, le=600)
    notify_max_backoff_seconds: float = Field(60.0, gt=0, le=3600)
    notify_max_age_seconds: float = Field(24 * 3600.0, ge=1, le=30 * 86400)

    max_spans: int = Field(200_000, ge=100, le=50_000_000)
    max_span_bytes: int = Field(128 * 1024 * 1024, ge=1024 * 1024)
    max_log_records: int = Field(200_000, ge=100, le=50_000_000)
    max_log_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024)

    @field_validator("targets", mode="before")
    @classmethod
    def _parse_targets(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_targets(value)
        return value

    @field_validator("webhook_urls", "group_by", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.replace(" ", ",").split(",") if v.strip()]
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook URL {url!r} is not http(s)://")
        return value

    @field_validator("prometheus_url", "alertmanager_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"URL {value!r} is not http(s)://")
        return value.rstrip("/")

    @field_validator("rules_file", mode="before")
    @classmethod
    def _empty_rules(cls, value: object) -> object:
        return None if value == "" else value
