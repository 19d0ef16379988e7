"""Namespace configurations: a requested spec resolved against the service's defaults and
limits, and the JSON form in which replicas share them through the shared tier."""

from __future__ import annotations

import dataclasses
import json

from wasmgrid.cache import limits
from wasmgrid.cache.compression import (
    DEFAULT_MIN_COMPRESS_BYTES,
    DEFAULT_ZSTD_LEVEL,
    MAX_ZSTD_LEVEL,
    MIN_ZSTD_LEVEL,
    CompressionMode,
)
from wasmgrid.cache.namespace import NamespaceConfig
from wasmgrid.cache.policies import PolicyName
from wasmgrid.cache.records import NamespaceSpec
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.common.errors import InvalidArgument

MIN_NAMESPACE_BYTES = 4096
MAX_NAMESPACE_ENTRIES = 100_000_000
MAX_MIN_COMPRESS_BYTES = 1 << 20


def resolve(spec: NamespaceSpec, s: CacheSettings) -> NamespaceConfig:
    """The effective configuration for `spec`, validated against the service limits."""
    limits.check_namespace(spec.name, "config.name")
    max_bytes = spec.max_bytes or s.default_max_bytes
    if not MIN_NAMESPACE_BYTES <= max_bytes <= s.max_total_bytes:
        raise InvalidArgument(
            f"config.max_bytes: {max_bytes} is outside {MIN_NAMESPACE_BYTES}.."
            f"{s.max_total_bytes} (max_total_bytes)"
        )
    max_entries = spec.max_entries or s.default_max_entries
    if max_entries > MAX_NAMESPACE_ENTRIES:
        raise InvalidArgument(f"config.max_entries: {max_entries} exceeds {MAX_NAMESPACE_ENTRIES}")
    ttl = spec.default_ttl_ms or s.default_ttl_ms
    if ttl > s.max_ttl_ms:
        raise InvalidArgument(f"config.default_ttl_ms: {ttl} exceeds max_ttl_ms {s.max_ttl_ms}")
    level = spec.zstd_level or DEFAULT_ZSTD_LEVEL
    if not MIN_ZSTD_LEVEL <= level <= MAX_ZSTD_LEVEL:
        raise InvalidArgument(
            f"config.zstd_level: {level} is outside {MIN_ZSTD_LEVEL}..{MAX_ZSTD_LEVEL}"
        )
    min_compress = spec.min_compress_bytes or DEFAULT_MIN_COMPRESS_BYTES
    if min_compress > MAX_MIN_COMPRESS_BYTES:
        raise InvalidArgument(
            f"config.min_compress_bytes: {min_compress} exceeds {MAX_MIN_COMPRESS_BYTES}"
        )
    max_value = spec.max_value_bytes or s.max_value_bytes
    if max_value > s.max_value_bytes:
        raise InvalidArgument(
            f"config.max_value_bytes: {max_value} exceeds the service's "
            f"max_value_bytes {s.max_value_bytes}"
        )
    return NamespaceConfig(
        name=spec.name,
        max_bytes=max_bytes,
        max_entries=max_entries,
        default_ttl_ms=ttl,
        policy=spec.policy or PolicyName.W_TINYLFU,
        compression=spec.compression or CompressionMode.ADAPTIVE,
        zstd_level=level,
        min_compress_bytes=min_compress,
        max_value_bytes=max_value,
        local_only=spec.local_only,
        adaptive_window=s.adaptive_window,
    )


def to_json(config: NamespaceConfig) -> str:
    """A configuration as the JSON document saved in the shared tier."""
    doc = dataclasses.asdict(config)
    del doc["adaptive_window"]  # a replica's own setting, not part of the namespace's spec
    doc["policy"] = config.policy.value
    doc["compression"] = config.compression.value
    return json.dumps(doc, sort_keys=True)


def spec_from_json(name: str, raw: str) -> NamespaceSpec:
    """The spec saved by :func:`to_json` (KeyError, ValueError, TypeError when malformed)."""
    doc = json.loads(raw)
    return NamespaceSpec(
        name=name,
        max_bytes=int(doc["max_bytes"]),
        max_entries=int(doc["max_entries"]),
        default_ttl_ms=int(doc["default_ttl_ms"]),
        policy=PolicyName(doc["policy"]),
        compression=CompressionMode(doc["compression"]),
        zstd_level=int(doc["zstd_level"]),
        min_compress_bytes=int(doc["min_compress_bytes"]),
        max_value_bytes=int(doc["max_value_bytes"]),
        local_only=bool(doc["local_only"]),
    )
