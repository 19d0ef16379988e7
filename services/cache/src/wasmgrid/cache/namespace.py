"""One namespace's in-memory tier (L1): entries, bounds, priorities, TTLs, tags, counters.

Pure and synchronous: callers pass the clock (`now`, monotonic seconds) and the
already-encoded value. Every entry is charged its stored bytes (value after
compression, key, tags) plus :data:`ENTRY_OVERHEAD`, the measured cost of the
Python objects that hold it, so ``max_bytes`` bounds real memory.

Priorities are classes 0..7, each with its own instance of the namespace's
policy (W-TinyLFU classes share one frequency sketch). Eviction takes the
policy's victim from the lowest non-empty class, so a priority-7 entry goes
only once every lower-priority entry is gone.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from wasmgrid.cache.compression import CompressionMode
from wasmgrid.cache.policies import EvictionPolicy, PolicyName, policy_factory
from wasmgrid.cache.sketch import FrequencySketch
from wasmgrid.cache.stats import NamespaceCounters
from wasmgrid.cache.window import MIN_GHOST_ENTRIES, MIN_SAMPLING, WindowSizer

MAX_PRIORITY = 7
#: Bytes charged per entry on top of its key, value and tags: the entry object,
#: its slot in the namespace dict, the policy's bookkeeping, the expiry heap item
#: and the str/bytes object headers. Measured with tracemalloc at 20,000 entries
#: (dicts half-full): 330-350 bytes without a TTL, up to 530 with one (TTL-first
#: keeps its own heap); test_cache_memory.py checks the charge covers it.
ENTRY_OVERHEAD = 600
#: Bytes charged per tag of an entry: the tag's str object, its tuple slot and its
#: slot in the tag index, with some room (test_cache_memory.py checks it).
TAG_OVERHEAD = 176
#: Sketch size guess when only a byte bound is set: one expected entry per this many bytes.
SKETCH_BYTES_PER_ENTRY = 1024
#: The most entries a sketch is sized for (8 bytes each: 8 MiB).
MAX_SKETCH_ENTRIES = 1 << 20


class Removal(StrEnum):
    """Why an entry left L1 (the stats' eviction reasons)."""

    CAPACITY = "capacity"
    EXPIRY = "expiry"
    EXPLICIT = "explicit"


@dataclass(frozen=True, slots=True)
class NamespaceConfig:
    """The effective configuration of a namespace (defaults already applied)."""

    name: str
    max_bytes: int
    max_entries: int = 0
    default_ttl_ms: int = 0
    policy: PolicyName = PolicyName.W_TINYLFU
    compression: CompressionMode = CompressionMode.ADAPTIVE
    zstd_level: int = 3
    min_compress_bytes: int = 512
    max_value_bytes: int = 1 << 20
    local_only: bool = False
    #: This replica's WASMGRID_CACHE_ADAPTIVE_WINDOW (not shared with other replicas).
    adaptive_window: bool = True


@dataclass(slots=True, eq=False)
class Entry:
    """A stored value and what the cache knows about it."""

    value: bytes
    raw_len: int
    codec: int
    expires_at: float
    priority: int
    tags: tuple[str, ...]
    version: int
    weight: int

    def ttl_remaining(self, now: float) -> float:
        """Seconds until expiry (0 = never expires)."""
        return max(0.0, self.expires_at - now) if self.expires_at else 0.0


def entry_weight(key_bytes: int, stored_len: int, tags: Iterable[str]) -> int:
    """Bytes an entry is charged against the namespace's max_bytes."""
    return (
        ENTRY_OVERHEAD + key_bytes + stored_len + sum(len(t.encode()) + TAG_OVERHEAD for t in tags)
    )


class Namespace:
    """The L1 store of one namespace."""

    def __init__(self, config: NamespaceConfig) -> None:
        self.config = config
        self.counters = NamespaceCounters()
        self._entries: dict[str, Entry] = {}
        self._tags: dict[str, set[str]] = {}
        self._expiry: list[tuple[float, str]] = []
        self._charged = 0
        self._raw = 0
        self._stored = 0
        self._version = 0
        self._sketch: FrequencySketch | None = None
        self._sizer: WindowSizer | None = None
        self._classes: list[EvictionPolicy | None] = []
        self._build_policies()
        #: Bumped whenever entries are dropped wholesale, so an in-flight fill can tell.
        self.epoch = 0

    # -- configuration -------------------------------------------------------------

    def _sketch_size(self) -> int:
        by_bytes = self.config.max_bytes // SKETCH_BYTES_PER_ENTRY
        if self.config.max_entries:
            return min(self.config.max_entries, max(by_bytes, 64))
        return by_bytes

    def _build_policies(self) -> None:
        if self.config.policy is PolicyName.W_TINYLFU:
            self._sketch = FrequencySketch(min(self._sketch_size(), MAX_SKETCH_ENTRIES))
            self._sizer = self._new_sizer(self._sketch)
        else:
            self._sketch = None
            self._sizer = None
        self._new_policy = policy_factory(
            self.config.policy,
            self.config.max_bytes,
            self.config.max_entries,
            self._sketch or FrequencySketch(64),
            self._sizer,
        )
        self._classes = [None] * (MAX_PRIORITY + 1)
        for key, entry in self._entries.items():
            self._policy(entry.priority).add(key, entry.weight, entry.expires_at)

    def _new_sizer(self, sketch: FrequencySketch) -> WindowSizer | None:
        limit = self.config.max_entries
        if not self.config.adaptive_window or 0 < limit < MIN_GHOST_ENTRIES * MIN_SAMPLING:
            return None  # too few entries for a ghost of a sampled share of the keys
        return WindowSizer(limit or sketch.expected_entries, sketch)

    def _policy(self, priority: int) -> EvictionPolicy:
        policy = self._classes[priority]
        if policy is None:
            policy = self._classes[priority] = self._new_policy()
        return policy

    def reconfigure(self, config: NamespaceConfig) -> list[str]:
        """Apply a new configuration; returns the keys evicted to fit the new bounds."""
        old = self.config
        self.config = config
        if (config.policy, config.max_bytes, config.max_entries, config.adaptive_window) != (
            old.policy,
            old.max_bytes,
            old.max_entries,
            old.adaptive_window,
        ):
            self._build_policies()
        return self._evict_to_fit(None)

    # -- reads ---------------------------------------------------------------------

    def get(self, key: str, now: float) -> Entry | None:
        """The live entry for `key` (recording the access), or None."""
        sizer = self._sizer
        if sizer is not None:
            key_hash = hash(key)
            if not key_hash % sizer.rate:
                self._sample(sizer, key_hash)
        entry = self._entries.get(key)
        if entry is None:
            # The sketch counts a miss when the key is added (as Caffeine does): counting it
            # here too would make every one-hit wonder look seen twice.
            return None
        if entry.expires_at and entry.expires_at <= now:
            self._remove(key, Removal.EXPIRY)
            return None
        policy = self._classes[entry.priority]
        assert policy is not None
        policy.access(key)
        return entry

    def _sample(self, sizer: WindowSizer, key_hash: int) -> None:
        if not self.config.max_entries:  # a byte bound: the ghosts follow what it holds
            sizer.resize(len(self._entries))
        sizer.record(key_hash)

    def peek(self, key: str) -> Entry | None:
        """The entry for `key` without touching its recency/frequency or expiring it."""
        return self._entries.get(key)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> Iterator[str]:
        """Keys currently held (a snapshot is safer if you mutate while iterating)."""
        return iter(self._entries)

    @property
    def charged_bytes(self) -> int:
        """Bytes charged against max_bytes."""
        return self._charged

    @property
    def raw_bytes(self) -> int:
        """Sum of uncompressed value sizes."""
        return self._raw

    @property
    def stored_bytes(self) -> int:
        """Sum of stored (possibly compressed) value sizes."""
        return self._stored

    def next_version(self) -> int:
        """A fresh local version number (memory-only mode and shared-tier outages)."""
        self._version += 1
        return self._version

    def observe_version(self, version: int) -> None:
        """Keep local versions above any version seen from the shared tier."""
        if version > self._version:
            self._version = version

    # -- writes --------------------------------------------------------------------

    def put(self, key: str, entry: Entry) -> tuple[bool, list[str]]:
        """Insert or replace `key`; returns (kept, keys evicted to make room)."""
        old = self._entries.get(key)
        if entry.weight > self.config.max_bytes:
            # Bigger than the whole namespace: the old value is stale now, drop it too.
            if old is not None:
                self._remove(key, Removal.EXPLICIT)
            return False, []
        if old is not None:
            self._unaccount(key, old)
            if old.priority == entry.priority:
                self._entries[key] = entry
                self._account(key, entry)
                policy = self._classes[entry.priority]
                assert policy is not None
                policy.update(key, entry.weight, entry.expires_at)
            else:
                policy = self._classes[old.priority]
                assert policy is not None
                policy.remove(key)
                self._entries[key] = entry
                self._account(key, entry)
                self._policy(entry.priority).add(key, entry.weight, entry.expires_at)
        else:
            self._entries[key] = entry
            self._account(key, entry)
            sketch = self._sketch
            if sketch is not None and len(self._entries) > sketch.expected_entries:
                self._grow_sketch(sketch)
            self._policy(entry.priority).add(key, entry.weight, entry.expires_at)
        evicted = self._evict_to_fit(key)
        kept = key in self._entries and self._entries[key] is entry
        return kept, evicted

    def _grow_sketch(self, sketch: FrequencySketch) -> None:
        # An entry bound caps the sketch: the new key is counted before the eviction that
        # makes room for it, and growing then would wipe every count at the first overflow.
        limit = self.config.max_entries or MAX_SKETCH_ENTRIES
        sketch.ensure_capacity(min(2 * len(self._entries), limit, MAX_SKETCH_ENTRIES))

    def _account(self, key: str, entry: Entry) -> None:
        self._charged += entry.weight
        self._raw += entry.raw_len
        self._stored += len(entry.value)
        for tag in entry.tags:
            self._tags.setdefault(tag, set()).add(key)
        if entry.expires_at:
            heapq.heappush(self._expiry, (entry.expires_at, key))
            if len(self._expiry) > 2 * len(self._entries) + 1024:
                self._expiry = [(e.expires_at, k) for k, e in self._entries.items() if e.expires_at]
                heapq.heapify(self._expiry)

    def _unaccount(self, key: str, entry: Entry) -> None:
        self._charged -= entry.weight
        self._raw -= entry.raw_len
        self._stored -= len(entry.value)
        for tag in entry.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]

    def _over(self) -> bool:
        limit = self.config.max_entries
        return self._charged > self.config.max_bytes or bool(limit and len(self._entries) > limit)

    def _evict_to_fit(self, inserted: str | None) -> list[str]:
        evicted: list[str] = []
        while self._over():
            victim = self._victim()
            if victim is None:
                break
            if victim == inserted:
                self._remove(victim, None)  # not admitted: the caller reports it
            else:
                self._remove(victim, Removal.CAPACITY)
                evicted.append(victim)
        return evicted

    def _victim(self) -> str | None:
        for policy in self._classes:
            if policy is not None and len(policy):
                victim = policy.victim()
                if victim is not None:
                    return str(victim)
        return None

    def _remove(self, key: str, reason: Removal | None) -> Entry:
        entry = self._entries.pop(key)
        policy = self._classes[entry.priority]
        assert policy is not None
        policy.remove(key)
        self._unaccount(key, entry)
        if reason is Removal.CAPACITY:
            self.counters.evicted_capacity += 1
        elif reason is Removal.EXPIRY:
            self.counters.evicted_expiry += 1
        elif reason is Removal.EXPLICIT:
            self.counters.evicted_explicit += 1
        return entry

    def delete(self, key: str, below_version: int | None = None) -> bool:
        """Remove `key` (only if its version is below `below_version`, when given)."""
        entry = self._entries.get(key)
        if entry is None or (below_version is not None and entry.version >= below_version):
            return False
        self._remove(key, Removal.EXPLICIT)
        return True

    def invalidate_prefix(self, prefix: str, below_version: int | None = None) -> int:
        """Remove every key starting with `prefix`; returns how many were removed."""
        matches = [k for k in self._entries if k.startswith(prefix)]
        return sum(self.delete(k, below_version) for k in matches)

    def invalidate_tag(self, tag: str, below_version: int | None = None) -> int:
        """Remove every key carrying `tag`; returns how many were removed."""
        keys = list(self._tags.get(tag, ()))
        return sum(self.delete(k, below_version) for k in keys)

    def clear(self) -> int:
        """Remove everything (explicit removals); returns how many entries were removed."""
        count = len(self._entries)
        self.counters.evicted_explicit += count
        self._entries.clear()
        self._tags.clear()
        self._expiry.clear()
        self._charged = self._raw = self._stored = 0
        self._build_policies()
        self.epoch += 1
        return count

    def expire(self, now: float, budget: int = 10_000) -> int:
        """Remove up to `budget` entries whose TTL has passed; returns how many."""
        removed = 0
        heap = self._expiry
        while heap and removed < budget and heap[0][0] <= now:
            expires_at, key = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at == expires_at:
                self._remove(key, Removal.EXPIRY)
                removed += 1
        return removed
