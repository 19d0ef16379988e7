"""The cache a replica serves: namespaces in memory (L1) in front of the shared tier (L2).

Reads try L1, then L2 (filling L1). Writes go through L2 (which assigns the
version and broadcasts the invalidation) and then into L1. Other replicas drop
their older copies when the broadcast arrives, so a replaced or deleted key is
served stale at most for the pub/sub delivery time.

The race between a read of L2 and a concurrent mutation is closed by
:mod:`wasmgrid.cache.consistency`.

Outages: while Redis is unreachable the replica keeps serving and writing L1
only; keys it writes meanwhile are remembered (bounded) and deleted from L2
(with a broadcast) on recovery, and every shared namespace's L1 is dropped on
recovery because invalidations sent during the outage were missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace

from wasmgrid.cache import configs, limits
from wasmgrid.cache.compression import Codec, CompressionMode, Compressor, CorruptValue
from wasmgrid.cache.consistency import MutationLog, OutageJournal, Stamp
from wasmgrid.cache.metrics import NamespaceExporter
from wasmgrid.cache.namespace import MAX_PRIORITY, Entry, Namespace, NamespaceConfig, entry_weight
from wasmgrid.cache.records import (
    GetResult,
    InvalidateResult,
    NamespaceSnapshot,
    NamespaceSpec,
    SetItem,
    SetResult,
    TierStatus,
)
from wasmgrid.cache.redis_tier import (
    Invalidation,
    MutationKind,
    SharedRecord,
    SharedTier,
    SharedTierDown,
    SharedWrite,
    TierState,
)
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.common.errors import InvalidArgument, NotFound, ResourceExhausted
from wasmgrid.common.paging import split_page
from wasmgrid.common.tasks import cancel_and_wait

__all__ = [
    "GetResult",
    "InvalidateResult",
    "NamespaceSnapshot",
    "NamespaceSpec",
    "SetItem",
    "SetResult",
    "TierStatus",
    "TieredCache",
]

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class TieredCache:
    """Namespaces, compression, the shared tier and the consistency rules between them."""

    def __init__(self, settings: CacheSettings) -> None:
        self.settings = settings
        self.replica_id = settings.replica_id or secrets.token_hex(6)
        self._namespaces: dict[str, Namespace] = {}
        self._exporters: dict[str, NamespaceExporter] = {}
        self._compressor = Compressor()
        self._mutations = MutationLog(retention=max(5.0, 3 * settings.redis_timeout_seconds))
        self._outage = OutageJournal()
        self._sweeper: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.tier: SharedTier | None = None
        if settings.redis_url:
            self.tier = SharedTier(
                settings.redis_url,
                self.replica_id,
                timeout=settings.redis_timeout_seconds,
                backoff_max=settings.redis_backoff_max_seconds,
                ttl_cap_ms=settings.shared_ttl_cap_ms,
                ping_interval=settings.subscription_ping_seconds,
                on_message=self._on_remote,
                on_resync=self._resync,
            )

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Connect the shared tier (if any) and start the expiry sweeper."""
        if self.tier is not None:
            await self.tier.start()
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="cache-sweeper")

    async def stop(self) -> None:
        """Stop background work and close the shared tier."""
        await cancel_and_wait(self._sweeper, *self._background)
        if self.tier is not None:
            await self.tier.stop()

    def tier_status(self) -> TierStatus:
        """The shared tier's state (DISABLED when no Redis URL is configured)."""
        tier = self.tier
        if tier is None:
            return TierStatus(TierState.DISABLED, "", self.replica_id, "", 0, 0, 0, 0)
        return TierStatus(
            tier.state,
            tier.endpoint,
            self.replica_id,
            tier.last_error,
            int(tier.state_since * 1000),
            tier.reconnects,
            tier.published,
            tier.received,
        )

    # -- namespaces ----------------------------------------------------------------

    def resolve(self, spec: NamespaceSpec) -> NamespaceConfig:
        """The effective configuration for `spec`, validated against the service limits."""
        return configs.resolve(spec, self.settings)

    def _check_budget(self, name: str, max_bytes: int) -> None:
        s = self.settings
        if name not in self._namespaces and len(self._namespaces) >= s.max_namespaces:
            raise ResourceExhausted(
                f"namespace: {name!r} would exceed max_namespaces {s.max_namespaces}"
            )
        reserved = sum(ns.config.max_bytes for n, ns in self._namespaces.items() if n != name)
        if reserved + max_bytes > s.max_total_bytes:
            raise ResourceExhausted(
                f"max_bytes: {max_bytes} for {name!r} does not fit: other namespaces reserve "
                f"{reserved} of max_total_bytes {s.max_total_bytes}"
            )

    def _install(self, config: NamespaceConfig) -> tuple[Namespace, bool]:
        self._check_budget(config.name, config.max_bytes)
        ns = self._namespaces.get(config.name)
        if ns is None:
            ns = self._namespaces[config.name] = Namespace(config)
            self._exporters[config.name] = NamespaceExporter(config.name)
            log.info("namespace created", extra={"namespace": config.name})
            return ns, True
        if ns.config != config:
            evicted = ns.reconfigure(config)
            log.info(
                "namespace reconfigured",
                extra={"namespace": config.name, "evicted": len(evicted)},
            )
        return ns, False

    def _namespace(self, name: str) -> Namespace:
        ns = self._namespaces.get(name)
        if ns is None:
            limits.check_namespace(name)
            ns, _ = self._install(self.resolve(NamespaceSpec(name)))
        return ns

    async def configure(self, spec: NamespaceSpec) -> tuple[NamespaceConfig, bool]:
        """Create or replace a namespace's configuration; shared with the other replicas."""
        config = self.resolve(spec)
        ns, created = self._install(config)
        if self.tier is not None:
            try:
                await self.tier.save_config(config.name, configs.to_json(config))
                self._outage.configs.discard(config.name)
            except SharedTierDown:
                self._outage.configs.add(config.name)
                log.warning(
                    "namespace configured on this replica only (shared tier down); "
                    "it is shared on recovery",
                    extra={"namespace": config.name},
                )
        return ns.config, created

    def snapshot(self, name: str) -> NamespaceSnapshot:
        """Statistics of one namespace; NOT_FOUND if it does not exist here."""
        limits.check_namespace(name)
        ns = self._namespaces.get(name)
        if ns is None:
            raise NotFound(f"namespace: {name!r} does not exist")
        return self._snapshot(ns)

    @staticmethod
    def _snapshot(ns: Namespace) -> NamespaceSnapshot:
        return NamespaceSnapshot(
            config=ns.config,
            counters=ns.counters,
            entries=len(ns),
            raw_bytes=ns.raw_bytes,
            stored_bytes=ns.stored_bytes,
            charged_bytes=ns.charged_bytes,
        )

    def list_namespaces(self, after: str, limit: int) -> tuple[list[NamespaceSnapshot], bool]:
        """Namespaces named after `after` by name, at most `limit`; and whether more follow."""
        page, more = split_page(sorted(n for n in self._namespaces if n > after), limit)
        return [self._snapshot(self._namespaces[n]) for n in page], more

    # -- reads ---------------------------------------------------------------------

    def _shared(self, ns: Namespace) -> SharedTier | None:
        return None if ns.config.local_only else self.tier

    async def _decode(self, codec: int, stored: bytes, raw_len: int) -> bytes:
        if codec == Codec.ZSTD and raw_len >= self.settings.compress_in_thread_bytes > 0:
            return await asyncio.to_thread(self._compressor.decompress, codec, stored, raw_len)
        return self._compressor.decompress(codec, stored, raw_len)

    async def get(self, namespace: str, key: str) -> GetResult:
        """Read one key."""
        ns = self._namespaces.get(namespace)
        if ns is None:  # a namespace that exists had its name checked when it was made
            limits.check_namespace(namespace)
        limits.check_key(key, self.settings.max_key_bytes)
        return await self._get(ns if ns is not None else self._namespace(namespace), key)

    async def get_many(self, namespace: str, keys: Sequence[str]) -> list[GetResult]:
        """Read several keys of one namespace (results in request order); the L1 misses
        are read from the shared tier in one pipelined round trip."""
        limits.check_namespace(namespace)
        limits.check_batch(len(keys), self.settings.max_batch, "keys")
        for i, key in enumerate(keys):
            limits.check_key(key, self.settings.max_key_bytes, f"keys[{i}]")
        ns = self._namespace(namespace)
        now = time.monotonic()
        found = [await self._get_local(ns, key, now) for key in keys]
        missing = [i for i, r in enumerate(found) if r is None]
        tier = self._shared(ns)
        if missing and tier is not None and tier.available:
            stamp = Stamp(time.monotonic(), ns.epoch)
            try:
                records = await tier.get_many(ns.config.name, [keys[i] for i in missing])
            except SharedTierDown:
                records = [None] * len(missing)
            for i, record in zip(missing, records, strict=True):
                if record is not None:
                    found[i] = await self._from_shared(tier, ns, keys[i], record, stamp)
        results = [
            r if r is not None else GetResult(k, False) for k, r in zip(keys, found, strict=True)
        ]
        hits = sum(r.found for r in results)
        ns.counters.hits += hits
        ns.counters.misses += len(results) - hits
        per_key = (time.monotonic() - now) / len(results)
        for _ in results:
            ns.counters.get_latency.observe(per_key)
        return results

    async def _get(self, ns: Namespace, key: str) -> GetResult:
        now = time.monotonic()
        result = await self._get_local(ns, key, now)
        if result is None and (tier := self._shared(ns)) is not None and tier.available:
            stamp = Stamp(time.monotonic(), ns.epoch)
            try:
                record = await tier.get(ns.config.name, key)
            except SharedTierDown:
                record = None
            if record is not None:
                result = await self._from_shared(tier, ns, key, record, stamp)
        if result is None:
            ns.counters.misses += 1
            result = GetResult(key, False)
        else:
            ns.counters.hits += 1
        ns.counters.get_latency.observe(time.monotonic() - now)
        return result

    async def _get_local(self, ns: Namespace, key: str, now: float) -> GetResult | None:
        entry = ns.get(key, now)
        if entry is None:
            return None
        try:
            if entry.codec == Codec.RAW:  # most values: no coroutine to decode them
                value = self._compressor.decompress(Codec.RAW, entry.value, entry.raw_len)
            else:
                value = await self._decode(entry.codec, entry.value, entry.raw_len)
        except CorruptValue as exc:
            log.error(
                "dropped a corrupt memory entry: %s", exc, extra={"namespace": ns.config.name}
            )
            ns.delete(key)
            return None
        ns.counters.memory_hits += 1
        return GetResult(
            key,
            True,
            value,
            _ms(entry.ttl_remaining(now)),
            entry.priority,
            entry.tags,
            entry.version,
        )

    async def _from_shared(
        self, tier: SharedTier, ns: Namespace, key: str, record: SharedRecord, stamp: Stamp
    ) -> GetResult | None:
        """The answer for a record read from L2 (filling L1), or None if it is corrupt."""
        name = ns.config.name
        try:
            if record.raw_len > self.settings.max_value_bytes:
                raise CorruptValue(
                    f"declares {record.raw_len} bytes, over max_value_bytes "
                    f"{self.settings.max_value_bytes}"
                )
            value = await self._decode(record.codec, record.value, record.raw_len)
        except CorruptValue as exc:
            log.error("dropped a corrupt shared entry: %s", exc, extra={"namespace": name})
            with contextlib.suppress(SharedTierDown):
                await tier.delete(name, key)
            return None
        ns.observe_version(record.version)
        self._fill(ns, key, record, stamp)
        ns.counters.shared_hits += 1
        return GetResult(
            key,
            True,
            value,
            record.ttl_ms,
            record.priority,
            record.tags,
            record.version,
            shared=True,
        )

    def _fill(self, ns: Namespace, key: str, record: SharedRecord, stamp: Stamp) -> None:
        if record.priority > MAX_PRIORITY or len(record.tags) > limits.MAX_TAGS:
            return
        if not self._may_store(ns, key, record.version, record.tags, stamp):
            return
        now = time.monotonic()
        entry = Entry(
            record.value,
            record.raw_len,
            record.codec,
            now + record.ttl_ms / 1000 if record.ttl_ms else 0.0,
            record.priority,
            record.tags,
            record.version,
            entry_weight(len(key.encode()), len(record.value), record.tags),
        )
        ns.put(key, entry)

    def _may_store(
        self, ns: Namespace, key: str, version: int, tags: tuple[str, ...], stamp: Stamp
    ) -> bool:
        """Whether a value of `version` read/written since `stamp` may enter L1."""
        if ns.epoch != stamp.epoch:
            return False
        current = ns.peek(key)
        if current is not None and current.version > version:
            return False
        return self._mutations.allows(ns.config.name, key, version, tags, stamp.started)

    # -- writes --------------------------------------------------------------------

    async def _encode(self, config: NamespaceConfig, value: bytes) -> tuple[Codec, bytes]:
        args = (value, config.compression, config.zstd_level, config.min_compress_bytes)
        if config.compression is not CompressionMode.NONE and (
            len(value) >= self.settings.compress_in_thread_bytes > 0
        ):
            return await asyncio.to_thread(self._compressor.compress, *args)
        return self._compressor.compress(*args)

    def _check_item(self, ns: Namespace, item: SetItem, field: str) -> int:
        key_bytes = limits.check_key(item.key, self.settings.max_key_bytes, f"{field}key")
        limits.check_value(item.value, ns.config.max_value_bytes, f"{field}value")
        limits.check_ttl(item.ttl_ms, self.settings.max_ttl_ms, f"{field}ttl_ms")
        limits.check_priority(item.priority, f"{field}priority")
        limits.check_tags(item.tags, f"{field}tags")
        return key_bytes

    async def set(self, namespace: str, item: SetItem) -> SetResult:
        """Write one key."""
        limits.check_namespace(namespace)
        limits.check_key(item.key, self.settings.max_key_bytes)
        ns = self._namespace(namespace)
        key_bytes = self._check_item(ns, item, "")
        return await self._set(ns, item, key_bytes)

    async def set_many(self, namespace: str, items: Sequence[SetItem]) -> list[SetResult]:
        """Write several keys of one namespace; every item is validated before any write."""
        limits.check_namespace(namespace)
        limits.check_batch(len(items), self.settings.max_batch, "items")
        for i, item in enumerate(items):
            limits.check_key(item.key, self.settings.max_key_bytes, f"items[{i}].key")
        ns = self._namespace(namespace)
        sizes = [self._check_item(ns, item, f"items[{i}].") for i, item in enumerate(items)]
        return [await self._set(ns, item, size) for item, size in zip(items, sizes, strict=True)]

    async def _set(self, ns: Namespace, item: SetItem, key_bytes: int) -> SetResult:
        started = time.perf_counter()
        config = ns.config
        name = config.name
        ttl_ms = item.ttl_ms or config.default_ttl_ms
        codec, stored = await self._encode(config, item.value)
        weight = entry_weight(key_bytes, len(stored), item.tags)
        stamp = Stamp(time.monotonic(), ns.epoch)
        shared = False
        tier = self._shared(ns)
        if tier is not None and tier.available:
            try:
                with tracer.start_as_current_span("cache.shared.set"):
                    version = await tier.set(
                        name,
                        item.key,
                        SharedWrite(
                            stored, len(item.value), codec, item.priority, item.tags, ttl_ms
                        ),
                    )
                shared = True
                ns.observe_version(version)
                self._mutations.record(name, MutationKind.KEY, item.key, version)
            except SharedTierDown:
                version = self._write_while_down(ns, item.key)
        elif tier is not None:
            version = self._write_while_down(ns, item.key)
        else:
            version = ns.next_version()
        admitted = False
        if not shared or self._may_store(ns, item.key, version, item.tags, stamp):
            now = time.monotonic()
            entry = Entry(
                stored,
                len(item.value),
                codec,
                now + ttl_ms / 1000 if ttl_ms else 0.0,
                item.priority,
                item.tags,
                version,
                weight,
            )
            admitted, _ = ns.put(item.key, entry)
        ns.counters.sets += 1
        if not admitted:
            ns.counters.rejected += 1
        ns.counters.set_latency.observe(time.perf_counter() - started)
        return SetResult(item.key, version, admitted, shared, weight)

    def _write_while_down(self, ns: Namespace, key: str) -> int:
        self._outage.wrote(ns.config.name, key)
        return ns.next_version()

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove one key here and in the shared tier."""
        limits.check_namespace(namespace)
        limits.check_key(key, self.settings.max_key_bytes)
        ns = self._namespace(namespace)
        deleted = ns.delete(key)
        tier = self._shared(ns)
        if tier is not None:
            try:
                existed, version = await tier.delete(namespace, key)
            except SharedTierDown:
                self._write_while_down(ns, key)
            else:
                self._mutations.record(namespace, MutationKind.KEY, key, version)
                deleted = ns.delete(key, below_version=version) or deleted or existed
        return deleted

    async def invalidate_prefix(self, namespace: str, prefix: str) -> InvalidateResult:
        """Remove every key starting with `prefix` here, in L2 and on every replica."""
        limits.check_namespace(namespace)
        limits.check_key(prefix, self.settings.max_key_bytes, "prefix")
        return await self._invalidate(self._namespace(namespace), MutationKind.PREFIX, prefix)

    async def invalidate_tag(self, namespace: str, tag: str) -> InvalidateResult:
        """Remove every key carrying `tag` here, in L2 and on every replica."""
        limits.check_namespace(namespace)
        limits.check_tag(tag)
        return await self._invalidate(self._namespace(namespace), MutationKind.TAG, tag)

    async def _invalidate(self, ns: Namespace, kind: MutationKind, target: str) -> InvalidateResult:
        by_prefix = kind is MutationKind.PREFIX
        drop = ns.invalidate_prefix if by_prefix else ns.invalidate_tag
        name = ns.config.name
        local = drop(target)
        shared = 0
        tier = self._shared(ns)
        if tier is not None:
            send = tier.invalidate_prefix if by_prefix else tier.invalidate_tag
            try:
                shared, version = await send(name, target)
            except SharedTierDown:
                self._outage.invalidated(name)
            else:
                self._mutations.record(name, kind, target, version)
                local += drop(target, below_version=version)
        return InvalidateResult(local, shared)

    # -- the shared tier's callbacks -------------------------------------------------

    def _on_remote(self, msg: Invalidation) -> None:
        """Apply another replica's mutation to L1."""
        self._mutations.record(msg.namespace, msg.kind, msg.target, msg.version)
        ns = self._namespaces.get(msg.namespace)
        if msg.kind is MutationKind.CONFIG:
            task = asyncio.create_task(self._reload_config(msg.namespace))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        if ns is None or ns.config.local_only:
            return
        ns.observe_version(msg.version)
        if msg.kind is MutationKind.KEY:
            ns.delete(msg.target, below_version=msg.version)
        elif msg.kind is MutationKind.PREFIX:
            ns.invalidate_prefix(msg.target, below_version=msg.version)
        elif msg.kind is MutationKind.TAG:
            ns.invalidate_tag(msg.target, below_version=msg.version)

    async def _reload_config(self, name: str) -> None:
        if self.tier is None:
            return
        with contextlib.suppress(SharedTierDown):
            raw = await self.tier.load_config(name)
            if raw is not None:
                self._apply_config_json(name, raw)

    def _apply_config_json(self, name: str, raw: str) -> None:
        try:
            config = self.resolve(configs.spec_from_json(name, raw))
            self._install(config)
        except (InvalidArgument, ResourceExhausted, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "ignored a shared namespace configuration: %s", exc, extra={"namespace": name}
            )

    async def _resync(self) -> None:
        """After (re)connecting: publish what changed here while down, reload configs,
        and drop L1 of shared namespaces (invalidations sent meanwhile were missed)."""
        tier = self.tier
        assert tier is not None
        for name in sorted(self._outage.configs):
            ns = self._namespaces.get(name)
            if ns is not None:
                await tier.save_config(name, configs.to_json(ns.config))
            self._outage.configs.discard(name)
        for name, raw in (await tier.load_configs()).items():
            if name not in self._outage.configs:
                self._apply_config_json(name, raw)
        # Writes made while resyncing are still L1-only and journalled: the loop re-checks,
        # and nothing awaits between the last check and dropping L1.
        while (change := self._outage.next_change()) is not None:
            name, key = change
            if key is None:
                await tier.invalidate_prefix(name, "")
            else:
                await tier.delete(name, key)
            self._outage.replayed(name, key)
        dropped = 0
        for ns in self._namespaces.values():
            if not ns.config.local_only:
                dropped += ns.clear()
        if dropped:
            log.info("dropped %d memory entries after reconnecting to the shared tier", dropped)

    # -- maintenance -----------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            self.sweep()

    def sweep(self) -> int:
        """Remove expired entries and export counters to Prometheus; returns entries removed."""
        now = time.monotonic()
        removed = 0
        for name, ns in self._namespaces.items():
            removed += ns.expire(now)
            self._exporters[name].push(ns)
        return removed


def _ms(seconds: float) -> int:
    return int(seconds * 1000 + 0.999) if seconds > 0 else 0
