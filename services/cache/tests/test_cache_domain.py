"""The pure domain modules: sketch, policies, compression, namespace store, simulation."""

from __future__ import annotations

import random

import pytest
import zstandard

from wasmgrid.cache.compression import Codec, CompressionMode, Compressor, CorruptValue
from wasmgrid.cache.namespace import Entry, Namespace, NamespaceConfig, entry_weight
from wasmgrid.cache.policies import (
    FifoPolicy,
    LfuPolicy,
    LruPolicy,
    PolicyName,
    TtlFirstPolicy,
    WTinyLfuPolicy,
)
from wasmgrid.cache.simulate import optimal, simulate, zipf_shifting, zipf_trace, zipf_with_scans
from wasmgrid.cache.sketch import MAX_COUNT, FrequencySketch
from wasmgrid.cache.window import (
    DEFAULT_SHARE,
    MIN_GHOST_ENTRIES,
    SHARES,
    GhostCache,
    WindowSizer,
)

# -- sketch ---------------------------------------------------------------------------


def test_sketch_counts_saturate_and_never_underestimate() -> None:
    sketch = FrequencySketch(1024)
    counts = {f"k{i}": i % 12 for i in range(300)}
    for key, n in counts.items():
        for _ in range(n):
            sketch.increment(key)
    for key, n in counts.items():
        assert sketch.frequency(key) >= n  # count-min: collisions only over-estimate
    assert sum(sketch.frequency(k) == n for k, n in counts.items()) > 280
    for _ in range(40):
        sketch.increment("hot")
    assert sketch.frequency("hot") == MAX_COUNT


def test_sketch_halves_after_its_sample() -> None:
    sketch = FrequencySketch(64)
    # 16 counters (4 per row) per expected entry, halved every 10 increments per entry.
    assert (sketch.width, sketch.expected_entries, sketch.sample_size) == (256, 64, 640)
    for _ in range(10):
        sketch.increment("a")
    for _ in range(3):
        sketch.increment("b")
    sketch.reset()
    assert (sketch.frequency("a"), sketch.frequency("b")) == (5, 1)
    # Aging happens by itself once the sample is full.
    i = 0
    while sketch.resets == 1:
        sketch.increment(f"noise{i}")
        i += 1
    assert i <= sketch.sample_size


# -- policies -------------------------------------------------------------------------


def test_lru_fifo_lfu_ttl_orders() -> None:
    lru, fifo, lfu, ttl = LruPolicy(), FifoPolicy(), LfuPolicy(), TtlFirstPolicy()
    for p in (lru, fifo, lfu):
        for k in "abc":
            p.add(k, 1, 0.0)
        p.access("a")
        p.access("a")
        p.access("b")
    assert lru.victim() == "c"
    assert fifo.victim() == "a"
    assert lfu.victim() == "c"
    lfu.remove("c")
    assert lfu.victim() == "b"
    ttl.add("never", 1, 0.0)
    ttl.add("late", 1, 50.0)
    ttl.add("soon", 1, 10.0)
    assert ttl.victim() == "soon"
    ttl.update("soon", 1, 100.0)
    assert ttl.victim() == "late"
    ttl.remove("late")
    ttl.remove("soon")
    assert ttl.victim() == "never"
    assert len(ttl) == 1


def test_w_tinylfu_rejects_one_hit_wonders_and_keeps_hot_keys() -> None:
    sketch = FrequencySketch(1024)
    policy = WTinyLfuPolicy(capacity=100, sketch=sketch, max_entries=100, rng=random.Random(1))
    present: set[str] = set()

    def insert(key: str) -> None:
        policy.add(key, 1, 0.0)
        present.add(key)
        while len(present) > 100:
            victim = policy.victim()
            assert victim is not None
            policy.remove(victim)
            present.discard(str(victim))

    for i in range(100):
        insert(f"hot{i}")
    for _ in range(5):
        for i in range(100):
            policy.access(f"hot{i}")
    for i in range(1000):  # a scan of keys seen once
        insert(f"scan{i}")
    hot_left = sum(f"hot{i}" in present for i in range(100))
    assert hot_left >= 90, hot_left  # an LRU keeps none of them
    assert len(policy) == 100


@pytest.mark.parametrize("skew", [0.8, 0.99])
def test_w_tinylfu_beats_lru_on_zipf(skew: float) -> None:
    trace = zipf_trace(5_000, skew, 30_000, seed=7)
    lru = simulate(PolicyName.LRU, 100, trace).hit_ratio
    tiny = simulate(PolicyName.W_TINYLFU, 100, trace).hit_ratio
    assert tiny > lru + 0.03, (tiny, lru)


def test_w_tinylfu_resists_scans() -> None:
    trace = zipf_with_scans(5_000, 0.99, 30_000, scan_every=2_000, scan_length=500, seed=3)
    lru = simulate(PolicyName.LRU, 100, trace).hit_ratio
    tiny = simulate(PolicyName.W_TINYLFU, 100, trace).hit_ratio
    assert tiny > lru + 0.05, (tiny, lru)


def test_a_scan_does_not_flush_the_hot_set_of_a_full_namespace() -> None:
    # The namespace as the service runs it, bounded by entries: its sketch must keep the
    # hot keys' counts when the first overflow comes (it was grown, and wiped, there).
    ns = Namespace(NamespaceConfig(name="n", max_bytes=1 << 30, max_entries=100))
    blank = Entry(b"", 0, 0, 0.0, 0, (), 0, 1)
    for _ in range(4):
        for i in range(100):
            if ns.get(f"hot{i}", 0.0) is None:
                ns.put(f"hot{i}", blank)
    for i in range(1_000):
        assert ns.get(f"scan{i}", 0.0) is None
        ns.put(f"scan{i}", blank)
    hot_left = sum(f"hot{i}" in ns for i in range(100))
    assert hot_left >= 95, hot_left
    assert len(ns) == 100


def test_the_adaptive_window_needs_a_namespace_big_enough_for_its_ghosts() -> None:
    small = Namespace(NamespaceConfig(name="n", max_bytes=1 << 30, max_entries=1_000))
    big = Namespace(NamespaceConfig(name="n", max_bytes=1 << 30, max_entries=10_000))
    fixed = Namespace(
        NamespaceConfig(name="n", max_bytes=1 << 30, max_entries=10_000, adaptive_window=False)
    )
    assert small._sizer is None  # 1,000 / 16 sampled keys: ghosts of 62 entries, too few
    assert fixed._sizer is None
    assert big._sizer is not None
    assert big._sizer.rate == 16
    blank = Entry(b"", 0, 0, 0.0, 0, (), 0, 1)
    big.put("k", blank)
    policy = big._classes[0]
    assert isinstance(policy, WTinyLfuPolicy)
    assert policy.window_share == DEFAULT_SHARE


def _replay(sizer: WindowSizer, sketch: FrequencySketch, trace: list[int]) -> list[float]:
    """Feed `trace` as a namespace does (ghosts first, then the access is counted); the
    window shares taken, in order. Integer keys hash to themselves: deterministic."""
    shares = [sizer.window]
    for key in trace:
        sizer.record(hash(key))
        sketch.increment(key)
        if sizer.window != shares[-1]:
            shares.append(sizer.window)
    return shares


def test_the_window_grows_toward_recency_when_the_popular_keys_move() -> None:
    sketch = FrequencySketch(200)
    sizer = WindowSizer(200, sketch, rate=1)
    trace = zipf_shifting(5_000, 0.99, 30_000, shift_every=4_000, seed=5)
    shares = _replay(sizer, sketch, trace)
    assert shares[0] == DEFAULT_SHARE
    assert shares[-1] == SHARES[-1], shares  # the largest window on this trace
    assert sizer.version == len(shares) - 1


@pytest.mark.parametrize("scans", [False, True])
def test_the_window_stays_small_on_a_stationary_workload(scans: bool) -> None:
    sketch = FrequencySketch(200)
    sizer = WindowSizer(200, sketch, rate=1)
    trace = (
        zipf_with_scans(5_000, 0.99, 30_000, scan_every=2_000, scan_length=500, seed=5)
        if scans
        else zipf_trace(5_000, 0.99, 30_000, seed=5)
    )
    assert _replay(sizer, sketch, trace) == [DEFAULT_SHARE]  # no share won significantly
    assert sizer.version == 0


def test_ghosts_too_small_to_hold_a_window_keep_the_default() -> None:
    sketch = FrequencySketch(200)
    sizer = WindowSizer(MIN_GHOST_ENTRIES - 1, sketch, rate=1)
    trace = zipf_shifting(5_000, 0.99, 20_000, shift_every=4_000, seed=5)
    assert _replay(sizer, sketch, trace) == [DEFAULT_SHARE]


def test_a_ghost_admits_like_w_tinylfu_and_never_outgrows_its_capacity() -> None:
    sketch = FrequencySketch(100)
    ghost = GhostCache(100, DEFAULT_SHARE, sketch.frequency_of_hash)
    for _ in range(5):
        for key in range(100):
            sketch.increment(key)
            ghost.request(key)
    assert all(ghost.request(key) for key in range(100))
    for key in range(1_000, 2_000):  # a scan of keys seen once
        sketch.increment(key)
        assert not ghost.request(key)
        assert len(ghost) <= 100
    assert sum(ghost.request(key) for key in range(100)) >= 95
    ghost.resize(50)
    ghost.request(5_000)
    assert len(ghost) == 50


def test_a_miss_then_its_fill_count_as_one_access() -> None:
    ns = Namespace(NamespaceConfig(name="n", max_bytes=1 << 20, max_entries=100))
    assert ns.get("k", 0.0) is None
    ns.put("k", Entry(b"", 0, 0, 0.0, 0, (), 0, 1))
    assert ns._sketch is not None
    assert ns._sketch.frequency("k") == 1
    assert ns.get("k", 0.0) is not None
    assert ns._sketch.frequency("k") == 2


def test_w_tinylfu_resizes_its_window_when_the_sizer_moves() -> None:
    sizer = WindowSizer(10_000, FrequencySketch(1000))
    policy = WTinyLfuPolicy(1000, FrequencySketch(1000), max_entries=1000, sizer=sizer)
    sizer._current, sizer.version = SHARES.index(0.4), sizer.version + 1
    for i in range(400):
        policy.add(f"k{i}", 1, 0.0)
    assert len(policy._window) == 400  # room for 400 now, not 10
    sizer._current, sizer.version = SHARES.index(0.1), sizer.version + 1
    policy.access("k399")
    # The shrunk window hands its oldest entries to probation, no duel (nothing to evict).
    assert len(policy._window) == 100
    assert len(policy._probation) == 300
    assert policy.victim() == "k0"


def test_belady_is_exact_on_a_small_trace_and_the_ceiling_of_every_policy() -> None:
    # Capacity 2: a b c a b — hits on a and b need c declined (it is never used again).
    assert optimal(2, [1, 2, 3, 1, 2]).hits == 2
    assert optimal(1, [1, 2, 1, 2]).hits == 1  # keep 1, decline 2
    assert optimal(2, [1, 2, 3, 2, 3, 1]).hits == 2  # 2 and 3, or 2 and 1: never all three
    for trace in (
        zipf_trace(2_000, 0.99, 10_000, seed=5),
        zipf_shifting(2_000, 0.99, 10_000, shift_every=2_000, seed=5),
    ):
        best = optimal(50, trace).hit_ratio
        for policy in PolicyName:
            assert simulate(policy, 50, trace).hit_ratio <= best, policy


# -- compression ----------------------------------------------------------------------


def test_adaptive_compression_skips_small_and_incompressible() -> None:
    c = Compressor()
    text = b'{"name": "wasmgrid", "items": [1, 2, 3]}' * 100
    assert c.compress(b"{}", CompressionMode.ADAPTIVE, 3, 512) == (Codec.RAW, b"{}")
    noise = random.Random(1).randbytes(4096)
    assert c.compress(noise, CompressionMode.ADAPTIVE, 3, 512) == (Codec.RAW, noise)
    assert c.compress(noise, CompressionMode.ZSTD, 3, 512)[0] is Codec.ZSTD
    assert c.compress(text, CompressionMode.NONE, 3, 512) == (Codec.RAW, text)
    codec, packed = c.compress(text, CompressionMode.ADAPTIVE, 3, 512)
    assert codec is Codec.ZSTD
    assert len(packed) < len(text) // 10
    assert c.decompress(codec, packed, len(text)) == text


def test_decompression_is_bounded_by_the_declared_length() -> None:
    c = Compressor()
    bomb = zstandard.ZstdCompressor().compress(b"\0" * 50_000_000)  # ~ 2 KB claiming 50 MB
    with pytest.raises(CorruptValue, match="expected 100"):
        c.decompress(Codec.ZSTD, bomb, 100)
    with pytest.raises(CorruptValue):
        c.decompress(Codec.ZSTD, b"not zstd at all", 10)
    with pytest.raises(CorruptValue):
        c.decompress(Codec.RAW, b"abc", 4)
    with pytest.raises(CorruptValue, match="unknown codec"):
        c.decompress(9, b"abc", 3)
    no_size = zstandard.ZstdCompressor(write_content_size=False).compress(b"x" * 1000)
    assert c.decompress(Codec.ZSTD, no_size, 1000) == b"x" * 1000


# -- namespace store ------------------------------------------------------------------


def _entry(
    value: bytes,
    *,
    priority: int = 0,
    expires_at: float = 0.0,
    tags: tuple[str, ...] = (),
    version: int = 1,
) -> Entry:
    return Entry(
        value, len(value), 0, expires_at, priority, tags, version, entry_weight(4, len(value), tags)
    )


@pytest.mark.parametrize("policy", list(PolicyName))
def test_byte_bound_holds_under_random_workload(policy: PolicyName) -> None:
    ns = Namespace(NamespaceConfig(name="n", max_bytes=50_000, policy=policy))
    rng = random.Random(5)
    for i in range(5_000):
        key = f"k{rng.randrange(400):03d}"
        op = rng.random()
        if op < 0.5:
            ns.put(
                key,
                _entry(
                    b"x" * rng.randrange(0, 3000),
                    priority=rng.randrange(8),
                    expires_at=rng.choice([0.0, 5.0, 50.0]),
                    tags=(f"t{i % 5}",),
                ),
            )
        elif op < 0.9:
            ns.get(key, now=float(i % 100))
        elif op < 0.95:
            ns.delete(key)
        else:
            ns.expire(float(i % 100))
        assert ns.charged_bytes <= 50_000
        assert ns.charged_bytes == sum(e.weight for e in (ns.peek(k) for k in ns.keys()) if e)  # noqa: SIM118 - not a dict
    assert len(ns) > 0


def test_lower_priorities_are_evicted_first() -> None:
    ns = Namespace(
        NamespaceConfig(
            name="n", max_bytes=10 * entry_weight(4, 100, ()), policy=PolicyName.W_TINYLFU
        )
    )
    for i in range(5):
        assert ns.put(f"hi{i}", _entry(b"h" * 100, priority=5))[0]
    for i in range(5):
        ns.put(f"mid{i}", _entry(b"m" * 100, priority=2))
    for i in range(20):
        ns.put(f"lo{i}", _entry(b"l" * 100, priority=0))
    assert all(f"hi{i}" in ns for i in range(5))
    assert all(f"mid{i}" in ns for i in range(5))
    # Full of priority 2 and 5: a new priority-0 entry is the only candidate and is refused.
    kept, evicted = ns.put("lo-new", _entry(b"l" * 100, priority=0))
    assert not kept
    assert evicted == []
    kept, evicted = ns.put("top", _entry(b"t" * 100, priority=7))
    assert kept
    assert len(evicted) == 1
    assert evicted[0].startswith("mid")


def test_expiry_tags_versions_and_reconfigure() -> None:
    ns = Namespace(NamespaceConfig(name="n", max_bytes=1 << 20, policy=PolicyName.LRU))
    ns.put("a", _entry(b"1", expires_at=10.0, tags=("x",)))
    ns.put("b", _entry(b"2", tags=("x", "y"), version=5))
    ns.put("c", _entry(b"3", expires_at=20.0))
    assert ns.get("a", 9.9) is not None
    assert ns.get("a", 10.0) is None
    assert ns.counters.evicted_expiry == 1
    assert ns.expire(25.0) == 1
    assert "c" not in ns
    assert not ns.delete("b", below_version=5)  # a newer (or equal) value stays
    assert ns.invalidate_tag("y", below_version=6) == 1
    assert "b" not in ns
    assert ns.raw_bytes == 0
    assert ns.charged_bytes == 0
    for i in range(100):
        ns.put(f"k{i}", _entry(b"v" * 100))
    evicted = ns.reconfigure(
        NamespaceConfig(name="n", max_bytes=10 * entry_weight(4, 100, ()), policy=PolicyName.FIFO)
    )
    assert len(evicted) == 90
    assert evicted[0] == "k0"
    assert len(ns) == 10
    evicted = ns.reconfigure(
        NamespaceConfig(name="n", max_bytes=1 << 20, max_entries=3, policy=PolicyName.FIFO)
    )
    assert len(ns) == 3
    assert evicted == ["k90", "k91", "k92", "k93", "k94", "k95", "k96"]


def test_decompression_memory_follows_the_frame_not_the_claim() -> None:
    c = Compressor()
    small = zstandard.ZstdCompressor().compress(b"y" * 3000)
    # A writer claiming 2 GB for a 3 KB frame gets a refusal, not a 2 GB buffer.
    with pytest.raises(CorruptValue, match="3000"):
        c.decompress(Codec.ZSTD, small, 2_000_000_000)
    big = random.Random(2).randbytes(3 << 20)
    packed = zstandard.ZstdCompressor().compress(big)
    assert c.decompress(Codec.ZSTD, packed, len(big)) == big
