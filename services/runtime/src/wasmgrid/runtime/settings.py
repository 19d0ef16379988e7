"""Runtime settings: every field is a ``WASMGRID_RUNTIME_<FIELD>`` environment variable."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from wasmgrid.common.settings import ServiceSettings, service_config

MIB = 1024 * 1024

#: Keys that must never be used as the artifact HMAC key outside dev mode.
PLACEHOLDER_KEYS = frozenset({"changeme", "change-me", "secret", "dev", "test", "placeholder"})


class RuntimeSettings(ServiceSettings):
    """Configuration of the runtime service."""

    model_config = service_config("RUNTIME")

    grpc_port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(9091, ge=0, le=65535, description="Prometheus /metrics port")

    marketplace_addr: str = Field(
        "127.0.0.1:50052", min_length=1, description="marketplace gRPC target for Download"
    )
    fetch_timeout_seconds: float = Field(30.0, gt=0, le=600, description="one module download")
    watch_publishes: bool = Field(
        True,
        description="hold the marketplace's WatchPublishes stream open and compile each new"
        " version (and fetch its assets) before its first call",
    )
    data_dir: Path = Field(
        Path(".wasmgrid/runtime"), description="content-addressed blobs and compiled artifacts"
    )
    artifact_key: str = Field(
        "",
        description="HMAC key for compiled artifacts on disk (>= 32 chars); empty = generate and "
        "persist one in data_dir/artifact.key",
    )
    max_disk_bytes: int = Field(
        2048 * MIB, ge=MIB, description="bound of each disk cache (blobs, artifacts)"
    )
    disk_artifacts: bool = Field(True, description="keep serialized compiled modules on disk")
    allow_inline: bool = Field(False, description="accept module bytes in requests (tests, dev)")

    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="worker processes sharing the port (python -m only); 0 = one per CPU",
    )
    worker_id: int = Field(0, ge=0, description="set by the supervisor for each worker process")
    supervised: bool = Field(False, description="set by the supervisor: a worker process")
    reuse_port: bool = Field(False, description="SO_REUSEPORT on the gRPC port (workers set it)")
    max_concurrent: int = Field(
        8, ge=1, le=1024, description="executions at once per process; excess RESOURCE_EXHAUSTED"
    )
    drain_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="on SIGTERM, keep serving this long after health turns NOT_SERVING, so"
        " clients stop sending before the server stops (a gateway watching health sees it"
        " at once; one that only polls, within its interval, 2 s by default, plus a check"
        " of up to 1 s); calls that reach a stopping server are cancelled",
    )
    pooling: bool = Field(
        True,
        description="reuse preallocated instance slots (wasmtime's pooling allocator):"
        " less CPU per short call; 2 x MAX_CONCURRENT + 16 slots of address space",
    )
    inline_fuel: int = Field(
        1_000_000,
        ge=0,
        le=100_000_000,
        description="fuel a call may use on the event loop before it is re-run on a worker"
        " thread (about 1-3 ms of guest work per million); 0: always a worker thread",
    )
    compiled_cache_bytes: int = Field(
        1024 * MIB,
        ge=MIB,
        description="compiled code kept in memory (least recently used out; the newest"
        " module is kept even when alone larger)",
    )
    max_module_bytes: int = Field(
        1024 * MIB,
        ge=1024,
        le=4096 * MIB,
        description="this replica's ceiling on a module's size: the marketplace enforces each"
        " namespace's cap at publish, so a fetch takes what it announces up to this",
    )
    max_assets_bytes: int = Field(
        256 * MIB,
        ge=1024,
        le=8192 * MIB,
        description="a version's assets: the canonical tar fetched, and its files unpacked",
    )
    scratch_dir: Path | None = Field(
        None,
        description="where per-call scratch directories are made: a size-bounded filesystem"
        " (tmpfs); unset = the runtime's temporary directory (/dev/shm when writable)",
    )
    max_scratch_bytes: int = Field(256 * MIB, ge=4096, le=16384 * MIB)
    max_scratch_files: int = Field(100_000, ge=1, le=10_000_000)
    default_scratch_bytes: int = Field(16 * MIB, ge=4096)
    default_scratch_files: int = Field(1_000, ge=1)
    max_stdin_bytes: int = Field(8 * MIB, ge=0, le=256 * MIB)
    stats_modules: int = Field(1000, ge=1, le=100_000, description="modules tracked by GetStats")
    streams: bool = Field(
        True, description="serve RuntimeStreamService (Invoke and Call multiplexed on a stream)"
    )

    epoch_tick_ms: int = Field(10, ge=1, le=1000, description="wall-clock check granularity")
    stack_bytes: int = Field(512 * 1024, ge=64 * 1024, le=64 * MIB, description="wasm stack")
    max_table_elements: int = Field(100_000, ge=1_000, le=10_000_000)

    # Maxima first: the default_* validators compare against them.
    max_fuel: int = Field(10_000_000_000, ge=1)
    max_timeout_ms: int = Field(60_000, ge=1)
    max_memory_bytes: int = Field(1024 * MIB, ge=64 * 1024, le=4096 * MIB)
    max_stdout_bytes: int = Field(8 * MIB, ge=0)
    max_stderr_bytes: int = Field(1 * MIB, ge=0)
    default_fuel: int = Field(1_000_000_000, ge=1)
    default_timeout_ms: int = Field(5_000, ge=1)
    default_memory_bytes: int = Field(64 * MIB, ge=64 * 1024)
    default_stdout_bytes: int = Field(1 * MIB, ge=0)
    default_stderr_bytes: int = Field(64 * 1024, ge=0)

    @field_validator(
        "default_scratch_bytes",
        "default_scratch_files",
        "default_fuel",
        "default_timeout_ms",
        "default_memory_bytes",
        "default_stdout_bytes",
        "default_stderr_bytes",
    )
    @classmethod
    def _default_within_maximum(cls, value: int, info: ValidationInfo) -> int:
        name = str(info.field_name).removeprefix("default_")
        maximum = info.data.get(f"max_{name}")
        if maximum is not None and value > maximum:
            raise ValueError(f"{value} is above WASMGRID_RUNTIME_MAX_{name.upper()}={maximum}")
        return value

    @field_validator("artifact_key")
    @classmethod
    def _real_key(cls, key: str) -> str:
        if key and (len(key) < 32 or key.lower() in PLACEHOLDER_KEYS):
            raise ValueError(
                "must be at least 32 characters and not a placeholder"
                " (or empty to generate one in the data dir)"
            )
        return key
