"""Marketplace configuration: ``WASMGRID_MARKETPLACE_*`` environment variables."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from wasmgrid.common.settings import DATABASE_URL_ENV, ServiceSettings, service_config, shared_env
from wasmgrid.common.units import MAX_SIZE_CEILING_BYTES
from wasmgrid.marketplace.tokens import TOKEN_FORMAT

MIB = 1024 * 1024


class MarketplaceSettings(ServiceSettings):
    """Every field is an env var ``WASMGRID_MARKETPLACE_<FIELD>`` (see the README)."""

    model_config = service_config("MARKETPLACE")

    grpc_port: int = Field(50052, ge=0, le=65535)
    metrics_port: int = Field(9092, ge=0, le=65535)
    # Publish streams carry up to chunk_bytes per message; 16 MiB leaves room for 4 MiB chunks.
    max_message_bytes: int = Field(16 * MIB, ge=64 * 1024)

    database_url: str = Field(
        validation_alias=shared_env("MARKETPLACE", "DATABASE_URL", DATABASE_URL_ENV),
        description="PostgreSQL DSN; the service owns schema `marketplace`",
    )
    db_pool_min: int = Field(2, ge=1, le=100)
    db_pool_max: int = Field(10, ge=1, le=200)
    search_pool_max: int = Field(5, ge=1, le=100, description="connections for SearchModules")
    db_wait_seconds: float = Field(30.0, ge=0, le=600)
    db_statement_timeout_ms: int = Field(
        3_000,
        ge=100,
        le=600_000,
        description="PostgreSQL's statement_timeout; the client gives up 500 ms after it",
    )
    db_acquire_timeout_seconds: float = Field(
        1.0, gt=0, le=60, description="waiting for a pooled connection (and releasing it)"
    )

    open_signup: bool = Field(True, description="anyone may CreateUser (else admins only)")
    bootstrap_admin: str = Field("admin", description="username of the bootstrap admin")
    bootstrap_admin_token: str = Field(
        "", description="wgt_ token of the bootstrap admin; empty = no bootstrap"
    )

    max_module_bytes: int = Field(
        50 * MIB, ge=1024, le=4096 * MIB, description="a namespace's module cap unless set"
    )
    max_assets_bytes: int = Field(
        64 * MIB,
        ge=1024,
        le=4096 * MIB,
        description="a namespace's assets cap unless set: archive bytes, and unpacked bytes"
        " of its files",
    )
    size_ceiling_bytes: int = Field(
        1024 * MIB,
        ge=1024,
        le=MAX_SIZE_CEILING_BYTES,
        description="the highest module or assets cap an admin may give a namespace",
    )
    max_assets_files: int = Field(10_000, ge=1, le=1_000_000)
    blob_chunk_bytes: int = Field(1 * MIB, ge=64 * 1024, le=8 * MIB)
    max_concurrent_publishes: int = Field(4, ge=1, le=64)
    publish_idle_timeout_seconds: float = Field(30.0, gt=0, le=600)
    allowed_import_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="import modules allowed besides wasi_snapshot_preview1 (JSON list or CSV)",
    )
    max_initial_memory_pages: int = Field(16384, ge=1, le=65536)
    max_versions_per_module: int = Field(10_000, ge=1)
    download_cache_bytes: int = Field(64 * MIB, ge=0, le=4096 * MIB)
    rating_refresh_seconds: float = Field(
        1.0, gt=0, le=3600, description="how often search's rating columns catch up"
    )
    pg_trgm: bool = Field(True, description="use pg_trgm when CREATE EXTENSION succeeds")

    @field_validator("allowed_import_modules", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("bootstrap_admin_token")
    @classmethod
    def _token(cls, value: str) -> str:
        if value and not TOKEN_FORMAT.match(value):
            raise ValueError("must be wgt_ followed by 20..200 characters of [A-Za-z0-9_-]")
        return value
