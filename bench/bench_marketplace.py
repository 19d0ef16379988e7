"""Marketplace benchmark: search over 10,000 modules, publish, download, ratings.

A marketplace server runs in its own process over an embedded PostgreSQL, driven
over loopback gRPC beside the raw grpc.aio echo floor measured in the same run.

* **seed**: 10,000 synthetic modules (one version each, sharing one blob) are
  inserted with COPY + INSERT … SELECT, not 10,000 publishes; search vectors and
  the name-word vocabulary are built exactly as publish builds them.
* **search**: a mix of text queries (prefix words, typos on names), filters and
  sorts; sequential p50/p95 (target p95 ≤ 20 ms) and throughput at concurrency 8.
* **publish 5 MiB**: a valid module padded with a custom section, client stream
  of 1 MiB chunks: validation + transactional store, p50 over several versions.
* **download 20 MiB**: MB/s for the first (PostgreSQL) read of three distinct
  blobs and for later (memory LRU) reads (target ≥ 200 MB/s on loopback).
* **ratings**: 50 concurrent raters re-rating one module; the aggregate is
  checked exact at the end.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from bench.harness import (
    ROOT,
    LoadResult,
    Table,
    grpc_echo_baseline,
    percentile,
    run_load,
    save_results,
    subprocess_server,
)
from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.api.marketplace.v1 import marketplace_pb2_grpc as pb_grpc
from wasmgrid.cli.embedded import EmbeddedPostgres
from wasmgrid.common.categories import CATEGORIES
from wasmgrid.common.channel import create_channel
from wasmgrid.common.testing import free_port
from wasmgrid.marketplace import search as searchlib
from wasmgrid.marketplace.tokens import new_secret
from wasmgrid.marketplace.wasmbinary import with_custom_section

MATHFN = (ROOT / "examples/modules/mathfn/mathfn.wasm").read_bytes()
MODULES = 10_000
USERS = 20
RATERS = 50
MIB = 1024 * 1024
SEARCH_SEQUENTIAL = 400
COLD_DOWNLOADS = 3
SEARCH_SECONDS = 5.0
RATING_SECONDS = 5.0

ADJ = "fast tiny safe pure lazy smart micro mega quick simple robust sparse dense".split()
NOUN = (
    "image resize matrix vector hash cipher codec parser json yaml csv audio video "
    "physics render sprite graph queue cache store index bloom filter regex tokenizer "
    "neural tensor model sha blake compress zstd gzip base64 uuid time date geo"
).split()
CATS = list(CATEGORIES)
TAGS = "wasi fast simd no-std embedded cli web math image crypto data ml game".split()
_SYL = "ka lo mi nu pe ra si to vu ze ba di fo gu he ja ke li mo ny".split()


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """~800 description words with Zipf (1/rank) weights: a few common, most rare.

    The name words sit at ranks 20..90, so they are common but not ubiquitous, as
    "image" or "hash" are in a real registry's descriptions.
    """
    words = sorted({a + b + c for a in _SYL for b in _SYL for c in _SYL[:2]})
    rng.shuffle(words)
    vocab = words[:20] + ADJ + NOUN + words[20:800]
    return vocab, [1.0 / (rank + 1) for rank in range(len(vocab))]


QUERIES: list[dict[str, Any]] = [
    {"query": "image resize"},
    {"query": "hash"},
    {"query": "matrix"},
    {"query": "tensr"},  # typo
    {"query": "compres zstd"},  # typo + word
    {"query": "parser", "category": "utilities"},
    {"query": "fast", "sort": pb.SEARCH_SORT_DOWNLOADS},
    {"category": "crypto-security", "sort": pb.SEARCH_SORT_RATING},
    {"tag": "simd", "sort": pb.SEARCH_SORT_RECENT},
    {"sort": pb.SEARCH_SORT_NAME},
    {"query": "sprite render", "kind": pb.MODULE_KIND_REACTOR},
    {"query": "bloom filter cache"},
]


def padded_module(size: int) -> bytes:
    """mathfn.wasm grown to exactly `size` bytes with a custom section (valid, same code)."""
    name = b"bench-padding"
    # The section's size field is 1..5 bytes long: find the payload that makes `size`.
    for size_len in range(1, 6):
        payload = size - len(MATHFN) - 1 - size_len - 1 - len(name)
        module = with_custom_section(MATHFN, name, b"\x00" * payload)
        if len(module) == size:
            return module
    raise ValueError(size)


async def seed(dsn: str, stub: Any, admin: str) -> list[str]:
    """Users via gRPC, one real publish, then 10,000 modules via COPY; returns user tokens."""
    secrets = []
    for i in range(USERS):
        r = await stub.CreateUser(
            pb.CreateUserRequest(username=f"user{i}"),
            metadata=(("authorization", f"Bearer {admin}"),),
        )
        secrets.append(r.secret)
    await publish(stub, secrets[0], "user0/seed", "1.0.0", MATHFN)
    rng = random.Random(7)
    vocab, weights = vocabulary(rng)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "marketplace, public"})
    try:
        seed_row = await conn.fetchrow("SELECT digest, size_bytes, validation FROM versions")
        assert seed_row is not None
        ns = {
            r["name_norm"]: r["id"]
            for r in await conn.fetch("SELECT id, name_norm FROM namespaces")
        }
        await conn.execute(
            "CREATE TEMP TABLE stage (namespace_id bigint, name text, full_norm text,"
            " description text, category text, tags text[], kind text, downloads bigint,"
            " rating_count bigint, rating_sum bigint, stars bigint[], updated_at timestamptz)"
        )
        rows = []
        for i in range(MODULES):
            owner = f"user{i % USERS}"
            name = f"{rng.choice(ADJ)}-{rng.choice(NOUN)}-{rng.choice(NOUN)}-{i}"
            words = " ".join(rng.choices(vocab, weights, k=12))
            count = rng.randint(0, 40)
            stars = [0, 0, 0, 0, 0]
            for _ in range(count):
                stars[rng.randint(0, 4)] += 1
            rows.append(
                (
                    ns[owner],
                    name,
                    f"{owner}/{name}",
                    f"A {name.replace('-', ' ')} module: {words}",
                    rng.choice(CATS),
                    rng.sample(TAGS, 3),
                    rng.choice(["command", "reactor"]),
                    int(rng.paretovariate(1.2) * 10),
                    count,
                    sum((k + 1) * n for k, n in enumerate(stars)),
                    stars,
                    None,
                )
            )
        started = time.perf_counter()
        await conn.copy_records_to_table("stage", records=rows)
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO modules (namespace_id, name, name_norm, full_norm, latest_version,"
                " description, license, category, tags, kind, downloads, rating_count,"
                " rating_sum, stars, updated_at)"
                " SELECT namespace_id, name, name, full_norm, '1.0.0', description, 'MIT',"
                " category, tags, kind, downloads, rating_count, rating_sum, stars,"
                " now() - random() * interval '300 days' FROM stage"
            )
            await conn.execute(
                "INSERT INTO versions (module_id, version, version_key, prerelease, digest,"
                " size_bytes, kind, description, license, category, tags, homepage,"
                " repository, validation, published_by)"
                " SELECT m.id, '1.0.0', '1.0.0', false, $1, $2, m.kind, m.description, 'MIT',"
                " m.category, m.tags, '', '', $3::jsonb, o.user_id FROM modules m"
                " JOIN namespace_owners o ON o.namespace_id = m.namespace_id"
                " WHERE m.name LIKE '%-%-%-%'",
                seed_row["digest"],
                seed_row["size_bytes"],
                seed_row["validation"],
            )
            await conn.execute(
                "INSERT INTO rating_shards (module_id, shard, count, sum, stars)"
                " SELECT id, 0, rating_count, rating_sum, stars FROM modules"
                " WHERE rating_count > 0 AND name LIKE '%-%-%-%'"
            )
            # Same search vector as RegistryStore._refresh_module.
            await conn.execute(
                "UPDATE modules m SET search_vector ="
                " setweight(to_tsvector('simple', m.name_norm || ' '"
                "   || replace(m.name_norm, '-', ' ') || ' ' || n.name_norm), 'A')"
                " || setweight(to_tsvector('simple', array_to_string(m.tags, ' ')), 'B')"
                " || setweight(to_tsvector('simple', m.description), 'C')"
                " || setweight(to_tsvector('english', m.description), 'D')"
                " FROM namespaces n WHERE n.id = m.namespace_id AND m.name LIKE '%-%-%-%'"
            )
            # The typo-correction vocabulary, as publish adds a new module's name words.
            known = {
                (r["trigram"], r["word"])
                for r in await conn.fetch("SELECT trigram, word FROM name_word_trigrams")
            }
            grams = sorted(
                {
                    (g, w)
                    for _, _, full_norm, *_ in rows
                    for w in searchlib.name_words(full_norm.split("/", 1)[1])
                    for g in searchlib.word_trigrams(w)
                }
                - known
            )
            await conn.copy_records_to_table(
                "name_word_trigrams", records=grams, columns=("trigram", "word")
            )
        # A registry in steady state is vacuumed; the bulk UPDATE above left dead tuples.
        await conn.execute("VACUUM ANALYZE")
        total = await conn.fetchval("SELECT count(*) FROM modules")
        took = time.perf_counter() - started
        print(f"seeded {total} modules, {len(grams)} word trigrams in {took:.1f}s", flush=True)
    finally:
        await conn.close()
    return secrets


async def publish(stub: Any, secret: str, name: str, version: str, data: bytes) -> Any:
    async def stream() -> AsyncIterator[pb.PublishRequest]:
        yield pb.PublishRequest(
            metadata=pb.PublishMetadata(
                name=name, version=version, license="MIT", category="utilities"
            )
        )
        for i in range(0, len(data), MIB):
            yield pb.PublishRequest(chunk=data[i : i + MIB])

    return await stub.Publish(stream(), metadata=(("authorization", f"Bearer {secret}"),))


async def download(stub: Any, name: str, version: str) -> int:
    n = 0
    async for msg in stub.Download(pb.DownloadRequest(name=name, version=version)):
        if msg.WhichOneof("payload") == "chunk":
            n += len(msg.chunk)
    return n


async def bench_search(stub: Any) -> tuple[dict[str, Any], LoadResult]:
    requests = [
        pb.SearchModulesRequest(page=common_pb2.PageRequest(limit=20), **q) for q in QUERIES
    ]
    for r in requests:  # warm and sanity-check: text queries find something
        resp = await stub.SearchModules(r)
        if r.query and not resp.modules:
            raise AssertionError(f"query {r.query!r} found nothing")
    lat = []
    per_query: list[list[float]] = [[] for _ in requests]
    for i in range(SEARCH_SEQUENTIAL):
        t0 = time.perf_counter()
        await stub.SearchModules(requests[i % len(requests)])
        took = time.perf_counter() - t0
        lat.append(took)
        per_query[i % len(requests)].append(took)
    lat.sort()
    seq: dict[str, Any] = {
        "p50_ms": percentile(lat, 0.5) * 1e3,
        "p95_ms": percentile(lat, 0.95) * 1e3,
        "p99_ms": percentile(lat, 0.99) * 1e3,
        "per_query_p50_ms": {
            str(QUERIES[i]): statistics.median(v) * 1e3 for i, v in enumerate(per_query)
        },
    }
    counter = iter(range(10**9))

    async def call() -> None:
        await stub.SearchModules(requests[next(counter) % len(requests)])

    return seq, await run_load(call, 8, seconds=SEARCH_SECONDS, warmup=20)


async def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="wasmgrid-bench-pg-") as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port())
        pg.start()
        try:
            conn = await asyncpg.connect(pg.dsn)
            await conn.execute("CREATE DATABASE bench_marketplace")
            await conn.close()
            dsn = pg.dsn_for("bench_marketplace")
            admin = new_secret()
            port = free_port()
            env = {
                "WASMGRID_DATABASE_URL": dsn,
                "WASMGRID_MARKETPLACE_GRPC_PORT": str(port),
                "WASMGRID_MARKETPLACE_METRICS_PORT": str(free_port()),
                "WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN_TOKEN": admin,
                "WASMGRID_MARKETPLACE_LOG_LEVEL": "WARNING",
                "WASMGRID_MARKETPLACE_DB_POOL_MAX": "20",
            }
            cmd = [__import__("sys").executable, "-m", "wasmgrid.marketplace"]
            with subprocess_server(cmd, port, env=env, timeout=60):
                channel = create_channel(
                    f"127.0.0.1:{port}", default_timeout=60, max_message_bytes=64 * MIB
                )
                stub = pb_grpc.MarketplaceServiceStub(channel)
                await wait_ready(stub)
                secrets = await seed(dsn, stub, admin)
                results.update(await measure(stub, secrets))
                await channel.close(None)
        finally:
            pg.stop()
    results["echo_floor"] = await grpc_echo_baseline(8, 3.0)
    return results


async def wait_ready(stub: Any) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            await stub.SearchModules(pb.SearchModulesRequest(), timeout=2)
            return
        except grpc.aio.AioRpcError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def measure(stub: Any, secrets: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    seq, load = await bench_search(stub)
    out["search_sequential"] = seq
    out["search_load_c8"] = load

    data5 = padded_module(5 * MIB)
    lat = []
    for i in range(8):
        t0 = time.perf_counter()
        await publish(stub, secrets[1], "user1/big", f"1.0.{i}", data5[:-4] + i.to_bytes(4, "big"))
        lat.append(time.perf_counter() - t0)
    lat.sort()
    out["publish_5mib"] = {"p50_ms": statistics.median(lat) * 1e3, "max_ms": lat[-1] * 1e3}

    # Cold: the first download of each of three distinct 20 MiB blobs comes from
    # PostgreSQL (its shared buffers are warm: they were just written). Warm: repeats
    # of the last one come from the marketplace's memory LRU.
    data20 = padded_module(20 * MIB)
    cold = []
    for i in range(COLD_DOWNLOADS):
        version = f"1.0.{i}"
        await publish(stub, secrets[2], "user2/huge", version, data20[:-4] + i.to_bytes(4, "big"))
        t0 = time.perf_counter()
        n = await download(stub, "user2/huge", version)
        cold.append(n / (time.perf_counter() - t0) / 1e6)
        assert n == len(data20)
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        n = await download(stub, "user2/huge", version)
        warm.append(n / (time.perf_counter() - t0) / 1e6)
        assert n == len(data20)
    out["download_20mib"] = {
        "first_mb_s": statistics.median(cold),
        "first_all_mb_s": cold,
        "cached_mb_s": statistics.median(warm),
        "cached_all_mb_s": warm,
    }

    admin_tokens = []
    for i in range(RATERS):
        r = await stub.CreateUser(pb.CreateUserRequest(username=f"rater{i}", role=pb.ROLE_USER))
        admin_tokens.append(r.secret)
    await publish(stub, secrets[3], "user3/rated", "1.0.0", MATHFN)
    rng = random.Random(1)
    last: dict[int, int] = {}
    queue = iter(range(10**9))

    async def rate() -> None:
        i = next(queue) % RATERS
        stars = rng.randint(1, 5)
        last[i] = stars
        await stub.RateModule(
            pb.RateModuleRequest(name="user3/rated", stars=stars),
            metadata=(("authorization", f"Bearer {admin_tokens[i]}"),),
        )

    out["ratings_c50"] = await run_load(rate, RATERS, seconds=RATING_SECONDS, warmup=0)
    mod = (await stub.GetModule(pb.GetModuleRequest(name="user3/rated"))).module
    # Concurrent calls by one rater may land in either order; the count must be exact.
    if mod.rating_count != RATERS:
        raise AssertionError(f"rating_count {mod.rating_count} != {RATERS}")
    out["ratings_exact"] = True
    return out


def main() -> None:
    res = asyncio.run(run())
    t = Table(
        "marketplace (10,000 modules, loopback gRPC, server in its own process)",
        ["metric", "value", "target"],
    )
    s = res["search_sequential"]
    t.add("search p50 (sequential)", f"{s['p50_ms']:.2f} ms", "")
    t.add("search p95 (sequential)", f"{s['p95_ms']:.2f} ms", "≤ 20 ms")
    ld: LoadResult = res["search_load_c8"]
    t.add("search throughput (c=8)", f"{ld.calls_per_s:,.0f}/s (p99 {ld.p99_ms:.1f} ms)", "")
    p = res["publish_5mib"]
    t.add("publish 5 MiB p50", f"{p['p50_ms']:.0f} ms (max {p['max_ms']:.0f})", "")
    d = res["download_20mib"]
    cold = ", ".join(f"{r:.0f}" for r in d["first_all_mb_s"])
    t.add(
        f"download 20 MiB, first (PostgreSQL), median of {COLD_DOWNLOADS}",
        f"{d['first_mb_s']:.0f} MB/s ({cold})",
        "≥ 200 MB/s",
    )
    t.add("download 20 MiB, cached, median of 5", f"{d['cached_mb_s']:.0f} MB/s", "≥ 200 MB/s")
    r: LoadResult = res["ratings_c50"]
    t.add(
        "ratings, 50 concurrent raters",
        f"{r.calls_per_s:,.0f}/s (p99 {r.p99_ms:.1f} ms, errors {r.errors})",
        "exact",
    )
    e: LoadResult = res["echo_floor"]
    t.add("grpc.aio echo floor (c=8)", f"{e.calls_per_s:,.0f}/s (p50 {e.p50_ms:.2f} ms)", "")
    t.print()
    q = Table("search p50 by query (sequential)", ["request", "p50 ms"])
    for request, ms in s["per_query_p50_ms"].items():
        q.add(request, f"{ms:.1f}")
    q.print()
    save_results("marketplace", {**res, "table": t.as_dicts()})


if __name__ == "__main__":
    main()
