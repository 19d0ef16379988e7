"""A large module end to end: compile time, artifact size, publish → first call, warm p50.

The module is generated here (a C program of many functions, built with clang for
wasm32-wasi at -O0 in two parallel parts), never committed. Rows: the marketplace's
feature decode of it; raw wasmtime-py (the runtime's engine options) compiling,
serializing and loading it with ``Module.deserialize_file``; the runtime service from
"the blob is in the marketplace" to the first successful Invoke (callers retrying on
"compiling"); warm Invoke p50 beside raw wasmtime-py's Store + WASI + instantiate +
``_start`` on the same module, in the same run. ``BIG_FUNCTIONS`` sets the size
(default 24000: ~20 MB of code).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import wasmtime

from bench.harness import Table, save_results, summarize
from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.api.runtime.v1 import runtime_pb2_grpc
from wasmgrid.common.channel import create_channel
from wasmgrid.common.server import ServiceRunner
from wasmgrid.marketplace.wasmbinary import read_module
from wasmgrid.runtime.engine import EngineOptions, create_engine
from wasmgrid.runtime.service import RuntimeService
from wasmgrid.runtime.settings import RuntimeSettings
from wasmgrid.runtime.testing import TEST_KEY, sha, start_marketplace

WARM_CALLS = 200


def _c_part(first: int, count: int, seed: int) -> str:
    r = random.Random(seed)
    out = ["#include <stdio.h>", "#include <string.h>"]
    for i in range(first, first + count):
        a, b, c = r.randrange(1, 1000), r.randrange(1, 1000), r.randrange(1, 1000)
        out.append(
            f"long f{i}(long x, const char *s) {{ long acc = {a};"
            f" for (int k = 0; k < (x & 7) + {i % 5 + 1}; k++) {{ switch ((x + k) % 6) {{"
            f" case 0: acc = acc * {b} + (long)strlen(s); break;"
            f" case 1: acc ^= (acc << {a % 13 + 1}) + {c}; break;"
            f" case 2: acc = acc / ({b} | 1) + x; break;"
            f" case 3: acc += s[k % 4] * {c}; break;"
            f" case 4: acc -= (double)acc * 0.{a} > {b} ? {c} : x; break;"
            f" default: acc = (acc >> 3) + {a} * k; }} }}"
            f' if (acc % {c + 7} == 3) printf("f{i} %ld\\n", acc); return acc; }}'
        )
    return "\n".join(out)


def build(functions: int, work: Path) -> bytes:
    """Generate and compile the program; the wasm bytes."""
    clang = shutil.which("clang-19") or shutil.which("clang") or "clang"
    half = functions // 2
    parts = [(0, half), (half, functions - half)]
    procs = []
    for n, (first, count) in enumerate(parts):
        src = work / f"part{n}.c"
        src.write_text(_c_part(first, count, n))
        procs.append(
            subprocess.Popen(
                [clang, "--target=wasm32-wasi", "-O0", "-c", str(src), "-o", str(work / f"p{n}.o")]
            )
        )
    decls = "\n".join(f"long f{i}(long, const char *);" for i in range(functions))
    table = ",".join(f"f{i}" for i in range(functions))
    (work / "main.c").write_text(
        "#include <stdio.h>\n#include <stdlib.h>\n"
        + decls
        + "\ntypedef long (*fn)(long, const char *);\n"
        + f"static fn const table[] = {{{table}}};\n"
        + "int main(void) { long sum = 0; for (int i = 0; i < 64; i++)"
        + ' sum += table[(i * 104729) % (sizeof table / sizeof *table)](i, "wasm");'
        + ' printf("%ld\\n", sum); return 0; }\n'
    )
    for p in procs:
        if p.wait() != 0:
            raise SystemExit("clang failed")
    out = work / "big.wasm"
    subprocess.run(
        [clang, "--target=wasm32-wasi", "-O0", str(work / "main.c"), *map(str, work.glob("p*.o")),
         "-Wl,--strip-debug", "-o", str(out)],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


def raw_rows(wasm: bytes, work: Path) -> tuple[dict[str, float], Any, Any]:
    options = EngineOptions(pool_slots=32)
    engine = create_engine(options)
    started = time.perf_counter()
    module = wasmtime.Module(engine, wasm)
    compile_s = time.perf_counter() - started
    artifact = work / "big.cwasm"
    artifact.write_bytes(module.serialize())
    started = time.perf_counter()
    loaded = wasmtime.Module.deserialize_file(engine, str(artifact))
    load_s = time.perf_counter() - started
    facts = {
        "compile_s": compile_s,
        "artifact_bytes": artifact.stat().st_size,
        "deserialize_file_s": load_s,
    }
    return facts, engine, loaded


def raw_warm(engine: wasmtime.Engine, module: wasmtime.Module, n: int) -> list[float]:
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    pre = linker.instantiate_pre(module)
    out: list[float] = []
    for _ in range(n):
        t = time.perf_counter()
        store = wasmtime.Store(engine)
        store.set_fuel(10**9)
        store.set_epoch_deadline(10**6)
        wasi = wasmtime.WasiConfig()
        store.set_wasi(wasi)
        start = pre.instantiate(store).exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        start(store)
        out.append(time.perf_counter() - t)
    return out


async def service_rows(wasm: bytes, data_dir: Path) -> dict[str, Any]:
    market = await start_marketplace()
    market.state.chunk = 1024 * 1024
    settings = RuntimeSettings.model_validate(
        {
            "grpc_port": 0,
            "metrics_port": 0,
            "data_dir": data_dir,
            "artifact_key": TEST_KEY,
            "marketplace_addr": market.address,
            "max_module_bytes": 256 * 1024 * 1024,
            "drain_seconds": 0,
            "log_json": False,
            "log_level": "WARNING",
        }
    )
    runner = ServiceRunner(RuntimeService(settings), settings, serve_metrics=False, tracing=False)
    await runner.start()
    channel = create_channel(runner.address, default_timeout=None, tracing=False)
    stub = runtime_pb2_grpc.RuntimeServiceStub(channel)
    request = pb.InvokeRequest(module=pb.ModuleSource(digest=sha(wasm)))
    try:
        market.state.blobs[sha(wasm)] = wasm  # "published"
        started = time.perf_counter()
        compiling = 0
        while True:
            try:
                r = await stub.Invoke(request, timeout=1.0)
                break
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                compiling += 1
        first_s = time.perf_counter() - started
        assert r.outcome == pb.OUTCOME_OK, r.trap_message
        warm = []
        for _ in range(WARM_CALLS):
            t = time.perf_counter()
            await stub.Invoke(request, timeout=30)
            warm.append(time.perf_counter() - t)
        return {"publish_to_first_call_s": first_s, "compiling_answers": compiling, "warm": warm}
    finally:
        await channel.close(None)
        await runner.stop(1.0)
        await market.server.stop(0)


def main() -> None:
    functions = int(os.environ.get("BIG_FUNCTIONS", "24000"))
    with tempfile.TemporaryDirectory(prefix="wasmgrid-bench-big-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        wasm = build(functions, work)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        info = read_module(wasm)
        decode_s = time.perf_counter() - started
        facts, engine, module = raw_rows(wasm, work)
        raw = summarize(raw_warm(engine, module, WARM_CALLS), 0, 1.0)
        svc = asyncio.run(service_rows(wasm, work / "runtime"))
    warm = summarize(svc.pop("warm"), 0, 1.0)
    table = Table(f"Large module ({functions} C functions, -O0)", ["measure", "value"])
    table.add(
        "wasm size / code section", f"{len(wasm) / 1e6:.1f} MB / {info.code_bytes / 1e6:.1f} MB"
    )
    table.add("generate + clang (2 parts in parallel)", f"{build_s:.1f} s")
    table.add("marketplace feature decode (all code)", f"{decode_s:.2f} s")
    table.add("raw wasmtime-py compile (runtime engine)", f"{facts['compile_s']:.1f} s")
    table.add("artifact size", f"{facts['artifact_bytes'] / 1e6:.1f} MB")
    table.add("Module.deserialize_file", f"{facts['deserialize_file_s'] * 1000:.0f} ms")
    table.add(
        "runtime: blob in marketplace → first OK Invoke",
        f"{svc['publish_to_first_call_s']:.1f} s ({svc['compiling_answers']} 'compiling' answers)",
    )
    table.add(
        "raw wasmtime-py warm call p50 (Store+WASI+instantiate+_start)", f"{raw.p50_ms:.2f} ms"
    )
    table.add("runtime gRPC Invoke warm p50", f"{warm.p50_ms:.2f} ms")
    table.print()
    results = {
        "functions": functions,
        "wasm_bytes": len(wasm),
        "code_bytes": info.code_bytes,
        "decode_s": decode_s,
        **facts,
        **svc,
        "raw_warm": raw,
        "service_warm": warm,
    }
    print(f"saved {save_results('bigmodule', results)}")


if __name__ == "__main__":
    main()
