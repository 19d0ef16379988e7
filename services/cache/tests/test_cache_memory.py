"""The memory bound is real: charged bytes cover the Python objects, and RSS stays bounded."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tracemalloc

import pytest

from wasmgrid.cache.namespace import Entry, Namespace, NamespaceConfig, entry_weight
from wasmgrid.cache.policies import PolicyName
from wasmgrid.cache.settings import MIB


@pytest.mark.parametrize("policy", list(PolicyName))
def test_per_entry_charge_covers_the_objects_that_hold_it(policy: PolicyName) -> None:
    n = 20_000
    ns = Namespace(NamespaceConfig(name="m", max_bytes=1 << 40, policy=policy))
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for i in range(n):
            key = f"module:{i:08d}"
            value = bytes(16)
            tags = (f"tag-a{i % 7}", f"t{i % 50}")
            entry = Entry(value, 16, 0, 1e9 + i, i % 8, tags, i, entry_weight(len(key), 16, tags))
            ns.put(key, entry)
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    actual = (used - base) / n
    charged = ns.charged_bytes / n
    print(f"\nper entry: {actual:.0f} bytes allocated, {charged:.0f} charged")
    assert actual <= charged, f"{actual:.0f} B allocated per entry but only {charged:.0f} charged"


FILL_SCRIPT = """
import asyncio, gc, json, random, sys
import psutil
from wasmgrid.cache.compression import CompressionMode
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.cache.tiered import NamespaceSpec, SetItem, TieredCache

async def main(cap: int) -> None:
    cache = TieredCache(CacheSettings(redis_url="", max_total_bytes=cap, default_max_bytes=cap))
    await cache.configure(NamespaceSpec("fill", max_bytes=cap, compression=CompressionMode.NONE))
    rng = random.Random(11)
    proc = psutil.Process()
    gc.collect()
    before = peak = proc.memory_info().rss
    written = i = 0
    over = 0
    while written < 4 * cap:
        size = rng.choice((64, 256, 1024, 4096, 16384, 65536))
        await cache.set("fill", SetItem(f"k{i}", rng.randbytes(size), priority=i % 4))
        written += size
        i += 1
        if i % 1000 == 0:
            peak = max(peak, proc.memory_info().rss)
            over += cache.snapshot("fill").charged_bytes > cap
    peak = max(peak, proc.memory_info().rss)
    snap = cache.snapshot("fill")
    print(json.dumps({"written": written, "sets": i, "entries": snap.entries,
                      "charged": snap.charged_bytes, "evicted": snap.counters.evicted_capacity,
                      "growth": peak - before, "before": before, "peak": peak,
                      "stored": snap.stored_bytes, "over": over}))

asyncio.run(main(int(sys.argv[1])))
"""


@pytest.mark.integration
def test_rss_stays_bounded_when_filling_far_beyond_capacity() -> None:
    """In a fresh process (so earlier tests' heap does not blur the numbers): write 4x the
    namespace's max_bytes of incompressible values; the resident set grows by about the
    bound, not by what was written."""
    cap = 32 * MIB
    out = subprocess.run(
        [sys.executable, "-c", FILL_SCRIPT, str(cap)],
        capture_output=True,
        text=True,
        check=True,
        timeout=100,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"\nwrote {r['written'] / MIB:.0f} MiB in {r['sets']} sets into a {cap / MIB:.0f} MiB "
        f"namespace: {r['entries']} entries, charged {r['charged'] / MIB:.1f} MiB, "
        f"stored values {r['stored'] / MIB:.1f} MiB; RSS {r['before'] / MIB:.1f} MiB before, "
        f"peak {r['peak'] / MIB:.1f} MiB (growth {r['growth'] / MIB:.1f} MiB)"
    )
    assert r["over"] == 0
    assert r["charged"] <= cap
    assert r["evicted"] > 0
    assert r["growth"] <= cap * 1.5 + 16 * MIB, f"RSS grew {r['growth'] / MIB:.1f} MiB"
