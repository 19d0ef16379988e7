from wasmgrid.api.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvictionPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVICTION_POLICY_UNSPECIFIED: _ClassVar[EvictionPolicy]
    EVICTION_POLICY_W_TINYLFU: _ClassVar[EvictionPolicy]
    EVICTION_POLICY_LRU: _ClassVar[EvictionPolicy]
    EVICTION_POLICY_LFU: _ClassVar[EvictionPolicy]
    EVICTION_POLICY_FIFO: _ClassVar[EvictionPolicy]
    EVICTION_POLICY_TTL_FIRST: _ClassVar[EvictionPolicy]

class CompressionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPRESSION_MODE_UNSPECIFIED: _ClassVar[CompressionMode]
    COMPRESSION_MODE_NONE: _ClassVar[CompressionMode]
    COMPRESSION_MODE_ZSTD: _ClassVar[CompressionMode]
    COMPRESSION_MODE_ADAPTIVE: _ClassVar[CompressionMode]

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    TIER_MEMORY: _ClassVar[Tier]
    TIER_SHARED: _ClassVar[Tier]

class SharedTierState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHARED_TIER_STATE_UNSPECIFIED: _ClassVar[SharedTierState]
    SHARED_TIER_STATE_DISABLED: _ClassVar[SharedTierState]
    SHARED_TIER_STATE_CONNECTED: _ClassVar[SharedTierState]
    SHARED_TIER_STATE_DEGRADED: _ClassVar[SharedTierState]
EVICTION_POLICY_UNSPECIFIED: EvictionPolicy
EVICTION_POLICY_W_TINYLFU: EvictionPolicy
EVICTION_POLICY_LRU: EvictionPolicy
EVICTION_POLICY_LFU: EvictionPolicy
EVICTION_POLICY_FIFO: EvictionPolicy
EVICTION_POLICY_TTL_FIRST: EvictionPolicy
COMPRESSION_MODE_UNSPECIFIED: CompressionMode
COMPRESSION_MODE_NONE: CompressionMode
COMPRESSION_MODE_ZSTD: CompressionMode
COMPRESSION_MODE_ADAPTIVE: CompressionMode
TIER_UNSPECIFIED: Tier
TIER_MEMORY: Tier
TIER_SHARED: Tier
SHARED_TIER_STATE_UNSPECIFIED: SharedTierState
SHARED_TIER_STATE_DISABLED: SharedTierState
SHARED_TIER_STATE_CONNECTED: SharedTierState
SHARED_TIER_STATE_DEGRADED: SharedTierState

class NamespaceConfig(_message.Message):
    __slots__ = ("name", "max_bytes", "max_entries", "default_ttl_ms", "policy", "compression", "zstd_level", "min_compress_bytes", "max_value_bytes", "local_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    ZSTD_LEVEL_FIELD_NUMBER: _ClassVar[int]
    MIN_COMPRESS_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    max_bytes: int
    max_entries: int
    default_ttl_ms: int
    policy: EvictionPolicy
    compression: CompressionMode
    zstd_level: int
    min_compress_bytes: int
    max_value_bytes: int
    local_only: bool
    def __init__(self, name: _Optional[str] = ..., max_bytes: _Optional[int] = ..., max_entries: _Optional[int] = ..., default_ttl_ms: _Optional[int] = ..., policy: _Optional[_Union[EvictionPolicy, str]] = ..., compression: _Optional[_Union[CompressionMode, str]] = ..., zstd_level: _Optional[int] = ..., min_compress_bytes: _Optional[int] = ..., max_value_bytes: _Optional[int] = ..., local_only: _Optional[bool] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("namespace", "key")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    key: str
    def __init__(self, namespace: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("key", "found", "value", "ttl_remaining_ms", "priority", "tags", "version", "tier")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_REMAINING_MS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    key: str
    found: bool
    value: bytes
    ttl_remaining_ms: int
    priority: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    version: int
    tier: Tier
    def __init__(self, key: _Optional[str] = ..., found: _Optional[bool] = ..., value: _Optional[bytes] = ..., ttl_remaining_ms: _Optional[int] = ..., priority: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ..., version: _Optional[int] = ..., tier: _Optional[_Union[Tier, str]] = ...) -> None: ...

class SetRequest(_message.Message):
    __slots__ = ("namespace", "key", "value", "ttl_ms", "priority", "tags")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    key: str
    value: bytes
    ttl_ms: int
    priority: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, namespace: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[bytes] = ..., ttl_ms: _Optional[int] = ..., priority: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class SetResponse(_message.Message):
    __slots__ = ("key", "version", "admitted", "shared", "stored_bytes")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    key: str
    version: int
    admitted: bool
    shared: bool
    stored_bytes: int
    def __init__(self, key: _Optional[str] = ..., version: _Optional[int] = ..., admitted: _Optional[bool] = ..., shared: _Optional[bool] = ..., stored_bytes: _Optional[int] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("namespace", "key")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    key: str
    def __init__(self, namespace: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class GetManyRequest(_message.Message):
    __slots__ = ("namespace", "keys")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, namespace: _Optional[str] = ..., keys: _Optional[_Iterable[str]] = ...) -> None: ...

class GetManyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[GetResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[GetResponse, _Mapping]]] = ...) -> None: ...

class SetItem(_message.Message):
    __slots__ = ("key", "value", "ttl_ms", "priority", "tags")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    ttl_ms: int
    priority: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ..., ttl_ms: _Optional[int] = ..., priority: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class SetManyRequest(_message.Message):
    __slots__ = ("namespace", "items")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    items: _containers.RepeatedCompositeFieldContainer[SetItem]
    def __init__(self, namespace: _Optional[str] = ..., items: _Optional[_Iterable[_Union[SetItem, _Mapping]]] = ...) -> None: ...

class SetManyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SetResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[SetResponse, _Mapping]]] = ...) -> None: ...

class InvalidateByPrefixRequest(_message.Message):
    __slots__ = ("namespace", "prefix")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    prefix: str
    def __init__(self, namespace: _Optional[str] = ..., prefix: _Optional[str] = ...) -> None: ...

class InvalidateByTagRequest(_message.Message):
    __slots__ = ("namespace", "tag")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    tag: str
    def __init__(self, namespace: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class InvalidateResponse(_message.Message):
    __slots__ = ("invalidated", "shared_invalidated")
    INVALIDATED_FIELD_NUMBER: _ClassVar[int]
    SHARED_INVALIDATED_FIELD_NUMBER: _ClassVar[int]
    invalidated: int
    shared_invalidated: int
    def __init__(self, invalidated: _Optional[int] = ..., shared_invalidated: _Optional[int] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class LatencySummary(_message.Message):
    __slots__ = ("p50_us", "p99_us", "samples")
    P50_US_FIELD_NUMBER: _ClassVar[int]
    P99_US_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    p50_us: float
    p99_us: float
    samples: int
    def __init__(self, p50_us: _Optional[float] = ..., p99_us: _Optional[float] = ..., samples: _Optional[int] = ...) -> None: ...

class Evictions(_message.Message):
    __slots__ = ("capacity", "expiry", "explicit")
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_FIELD_NUMBER: _ClassVar[int]
    capacity: int
    expiry: int
    explicit: int
    def __init__(self, capacity: _Optional[int] = ..., expiry: _Optional[int] = ..., explicit: _Optional[int] = ...) -> None: ...

class NamespaceStats(_message.Message):
    __slots__ = ("config", "hits", "misses", "hit_ratio", "memory_hits", "shared_hits", "sets", "rejected", "evictions", "entries", "raw_bytes", "stored_bytes", "charged_bytes", "compression_ratio", "get_latency", "set_latency")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    HIT_RATIO_FIELD_NUMBER: _ClassVar[int]
    MEMORY_HITS_FIELD_NUMBER: _ClassVar[int]
    SHARED_HITS_FIELD_NUMBER: _ClassVar[int]
    SETS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    RAW_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHARGED_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_RATIO_FIELD_NUMBER: _ClassVar[int]
    GET_LATENCY_FIELD_NUMBER: _ClassVar[int]
    SET_LATENCY_FIELD_NUMBER: _ClassVar[int]
    config: NamespaceConfig
    hits: int
    misses: int
    hit_ratio: float
    memory_hits: int
    shared_hits: int
    sets: int
    rejected: int
    evictions: Evictions
    entries: int
    raw_bytes: int
    stored_bytes: int
    charged_bytes: int
    compression_ratio: float
    get_latency: LatencySummary
    set_latency: LatencySummary
    def __init__(self, config: _Optional[_Union[NamespaceConfig, _Mapping]] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., hit_ratio: _Optional[float] = ..., memory_hits: _Optional[int] = ..., shared_hits: _Optional[int] = ..., sets: _Optional[int] = ..., rejected: _Optional[int] = ..., evictions: _Optional[_Union[Evictions, _Mapping]] = ..., entries: _Optional[int] = ..., raw_bytes: _Optional[int] = ..., stored_bytes: _Optional[int] = ..., charged_bytes: _Optional[int] = ..., compression_ratio: _Optional[float] = ..., get_latency: _Optional[_Union[LatencySummary, _Mapping]] = ..., set_latency: _Optional[_Union[LatencySummary, _Mapping]] = ...) -> None: ...

class SharedTierStatus(_message.Message):
    __slots__ = ("state", "endpoint", "replica_id", "last_error", "state_since_unix_ms", "reconnects", "invalidations_published", "invalidations_received")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    STATE_SINCE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    INVALIDATIONS_PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    INVALIDATIONS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    state: SharedTierState
    endpoint: str
    replica_id: str
    last_error: str
    state_since_unix_ms: int
    reconnects: int
    invalidations_published: int
    invalidations_received: int
    def __init__(self, state: _Optional[_Union[SharedTierState, str]] = ..., endpoint: _Optional[str] = ..., replica_id: _Optional[str] = ..., last_error: _Optional[str] = ..., state_since_unix_ms: _Optional[int] = ..., reconnects: _Optional[int] = ..., invalidations_published: _Optional[int] = ..., invalidations_received: _Optional[int] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("stats", "shared_tier")
    STATS_FIELD_NUMBER: _ClassVar[int]
    SHARED_TIER_FIELD_NUMBER: _ClassVar[int]
    stats: NamespaceStats
    shared_tier: SharedTierStatus
    def __init__(self, stats: _Optional[_Union[NamespaceStats, _Mapping]] = ..., shared_tier: _Optional[_Union[SharedTierStatus, _Mapping]] = ...) -> None: ...

class ConfigureNamespaceRequest(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: NamespaceConfig
    def __init__(self, config: _Optional[_Union[NamespaceConfig, _Mapping]] = ...) -> None: ...

class ConfigureNamespaceResponse(_message.Message):
    __slots__ = ("config", "created")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    config: NamespaceConfig
    created: bool
    def __init__(self, config: _Optional[_Union[NamespaceConfig, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ListNamespacesRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListNamespacesResponse(_message.Message):
    __slots__ = ("namespaces", "page", "shared_tier")
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SHARED_TIER_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedCompositeFieldContainer[NamespaceStats]
    page: _common_pb2.PageResponse
    shared_tier: SharedTierStatus
    def __init__(self, namespaces: _Optional[_Iterable[_Union[NamespaceStats, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ..., shared_tier: _Optional[_Union[SharedTierStatus, _Mapping]] = ...) -> None: ...
