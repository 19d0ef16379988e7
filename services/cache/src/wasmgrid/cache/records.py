"""The cache's values as its callers see them: requests (a namespace spec, an item to
write) and answers (reads, writes, invalidations, snapshots, the shared tier's state)."""

from __future__ import annotations

from dataclasses import dataclass

from wasmgrid.cache.compression import CompressionMode
from wasmgrid.cache.namespace import NamespaceConfig
from wasmgrid.cache.policies import PolicyName
from wasmgrid.cache.redis_tier import TierState
from wasmgrid.cache.stats import NamespaceCounters


@dataclass(frozen=True, slots=True)
class NamespaceSpec:
    """A requested namespace configuration: 0 / None fields take the service defaults."""

    name: str
    max_bytes: int = 0
    max_entries: int = 0
    default_ttl_ms: int = 0
    policy: PolicyName | None = None
    compression: CompressionMode | None = None
    zstd_level: int = 0
    min_compress_bytes: int = 0
    max_value_bytes: int = 0
    local_only: bool = False


@dataclass(frozen=True, slots=True)
class SetItem:
    """One value to write (ttl_ms 0 = the namespace's default)."""

    key: str
    value: bytes
    ttl_ms: int = 0
    priority: int = 0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GetResult:
    """The answer to a read."""

    key: str
    found: bool
    value: bytes = b""
    ttl_remaining_ms: int = 0
    priority: int = 0
    tags: tuple[str, ...] = ()
    version: int = 0
    shared: bool = False  # True if it came from L2


@dataclass(frozen=True, slots=True)
class SetResult:
    """The outcome of a write."""

    key: str
    version: int
    admitted: bool
    shared: bool
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class InvalidateResult:
    """How many entries an invalidation removed here (L1) and in the shared tier."""

    invalidated: int
    shared_invalidated: int


@dataclass(frozen=True, slots=True)
class NamespaceSnapshot:
    """A namespace's configuration, counters and sizes at one moment."""

    config: NamespaceConfig
    counters: NamespaceCounters
    entries: int
    raw_bytes: int
    stored_bytes: int
    charged_bytes: int

    @property
    def compression_ratio(self) -> float:
        """raw / stored bytes; 1 when empty."""
        return self.raw_bytes / self.stored_bytes if self.stored_bytes else 1.0


@dataclass(frozen=True, slots=True)
class TierStatus:
    """The shared tier as this replica sees it."""

    state: TierState
    endpoint: str
    replica_id: str
    last_error: str
    state_since_unix_ms: int
    reconnects: int
    published: int
    received: int
