"""The physical floors every other benchmark is compared against."""

from __future__ import annotations

import asyncio

from bench.harness import Table, aiohttp_hello_baseline, grpc_echo_baseline, save_results

SECONDS = 5.0


def main() -> None:
    table = Table(
        "Baselines (loopback, same run)",
        ["path", "in flight", "calls/s", "p50 ms", "p99 ms", "errors"],
    )
    results = {}
    for concurrency in (1, 32):
        r = asyncio.run(grpc_echo_baseline(concurrency, SECONDS))
        table.add("grpc.aio unary echo", concurrency, *r.row())
        results[f"grpc_echo_c{concurrency}"] = r
    r = aiohttp_hello_baseline(32, SECONDS)
    table.add("aiohttp hello (wrk)", 32, *r.row())
    results["aiohttp_hello_c32"] = r
    table.print()
    save_results("baseline", results)


if __name__ == "__main__":
    main()
