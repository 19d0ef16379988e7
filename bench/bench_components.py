"""Components benchmark: a typed component call through the runtime against raw wasmtime-py
on the same component, in the same run, on the same engine.

Rows:

* **raw wasmtime-py**: a fresh Store with fuel and an epoch deadline, WASI, the WASI 0.2
  linker's ``instantiate``, the export looked up and called through wasmtime-py's own
  value conversion, ``post_return``. textstats ``analyse`` (a Python component built with
  componentize-py: a string in, a record with a list out) and wagi-echo's ``wasi:cli/run``
  (C wrapped with the preview 1 adapter).
* **runtime execute()**: the service's per-call path for the same call: the JSON
  arguments checked against the WIT types, the fresh Store with fuel, limits and the
  epoch callback, WASI from the request, capped output, lowering and lifting on
  wasmtime's C values, outcome classification.
* **gRPC Call**: the same call through a runtime server (in this process, fed by a
  loopback marketplace) at 1 and 8 in flight.

The Python component is built once per machine (``.wasmgrid/test-cache``) and compiled
here (its compile time is a row too).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import component as wc

from bench.bench_runtime import POLICY, _interleaved, _tmp
from bench.harness import ROOT, LoadResult, Table, run_load, save_results
from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.runtime import components
from wasmgrid.runtime.components import CompiledComponent
from wasmgrid.runtime.engine import EngineOptions, EpochTicker, Interrupt, create_engine
from wasmgrid.runtime.limits import LimitValues, resolve_limits
from wasmgrid.runtime.sandbox import CallSpec, execute
from wasmgrid.runtime.testing import (
    example_component,
    python_component,
    sha,
    start_marketplace,
    start_runtime,
    stop_runtime,
)

TEXT = "a tiny wasm runtime answers typed calls"
CALLS = 600
GRPC_SECONDS = 4.0


def _compiled(engine: wasmtime.Engine, linker: wc.Linker, wasm: bytes) -> CompiledComponent:
    component = wc.Component(engine, wasm)
    functions, run = components.describe(engine, component)
    may_block = components.check_imports(engine, component, "bench")
    return CompiledComponent("bench", component, linker, len(wasm), functions, run, may_block)


def in_process(textstats: bytes, echo: bytes) -> tuple[dict[str, LoadResult], float]:
    engine = create_engine(EngineOptions(pool_slots=64))  # as the service: pooled slots
    ticker = EpochTicker(engine, 0.01)
    ticker.start()
    linker = wc.Linker(engine)
    linker.add_wasip2()
    started = time.perf_counter()
    py = _compiled(engine, linker, textstats)
    compile_seconds = time.perf_counter() - started
    cmd = _compiled(engine, linker, echo)
    tmp = tempfile.mkdtemp(dir=_tmp())
    out_path = os.path.join(tmp, "stdout")
    run_name = cmd.run_export or ""

    def store() -> wasmtime.Store:
        s = wasmtime.Store(engine)
        s.set_fuel(10**9)
        s.set_epoch_deadline(500)
        s.set_limits(memory_size=64 << 20, instances=32, tables=8, memories=4)
        wasi = wasmtime.WasiConfig()
        wasi.stdout_file = out_path
        s.set_wasi(wasi)
        return s

    def raw_analyse() -> None:
        s = store()
        instance = linker.instantiate(s, py.component)
        func = instance.get_func(s, "analyse")
        assert func is not None
        stats = func(s, TEXT)
        func.post_return(s)
        assert stats.count == 7

    def raw_run() -> None:
        s = store()
        instance = linker.instantiate(s, cmd.component)
        index = instance.get_export_index(s, "run", instance.get_export_index(s, run_name))
        assert index is not None
        func = instance.get_func(s, index)
        assert func is not None
        func(s)
        func.post_return(s)

    limits = resolve_limits(LimitValues(), POLICY)
    args_json = json.dumps([TEXT])

    def svc_analyse() -> None:
        _, checked = components.checked_call_args(py, "analyse", json.loads(args_json))
        spec = CallSpec(function="analyse", component_args=checked, argv0="textstats")
        r = execute(
            engine, py, spec, limits, tmp_dir=tmp, interrupt=Interrupt(time.monotonic() + 5)
        )
        assert r.outcome.name == "OK", r.message
        assert r.json_results[0]["count"] == 7, r.message

    def svc_run() -> None:
        r = execute(
            engine,
            cmd,
            CallSpec(argv0="wagi-echo"),
            limits,
            tmp_dir=tmp,
            interrupt=Interrupt(time.monotonic() + 5),
        )
        assert r.outcome.name == "OK", r.message

    fns: dict[str, Callable[[], Any]] = {
        "raw_analyse": raw_analyse,
        "svc_analyse": svc_analyse,
        "raw_run": raw_run,
        "svc_run": svc_run,
    }
    results = _interleaved(fns, CALLS)
    ticker.stop()
    return results, compile_seconds


async def grpc_calls(textstats: bytes, concurrency: int) -> LoadResult:
    mk = await start_marketplace()
    mk.state.blobs[sha(textstats)] = textstats
    data_dir = ROOT / ".wasmgrid" / "test-cache" / "runtime-components"
    rt = await start_runtime(data_dir, marketplace_addr=mk.address, max_concurrent=16)
    request = pb.CallRequest(
        module=pb.ModuleSource(digest=sha(textstats), display_name="textstats"),
        function="analyse",
        args_json=json.dumps([TEXT]),
    )
    try:
        await rt.stub.Warm(pb.WarmRequest(module=request.module), timeout=600)

        async def call() -> None:
            r = await rt.stub.Call(request)
            assert r.outcome == pb.OUTCOME_OK, r.trap_message

        return await run_load(call, concurrency, GRPC_SECONDS)
    finally:
        await stop_runtime(rt, 1.0)
        await mk.server.stop(0)


def main() -> None:
    textstats = python_component(ROOT).read_bytes()
    echo = example_component(ROOT, "wagi-echo")
    ip, compile_seconds = in_process(textstats, echo)
    table = Table(
        "Component calls in process, same engine (analyse = textstats, Python;"
        " run = wagi-echo's wasi:cli/run, C)",
        ["path", "calls/s", "p50 µs", "p99 µs", "p50 ratio to raw"],
    )
    results: dict[str, Any] = {f"inproc_{k}": v for k, v in ip.items()}
    for name in ("analyse", "run"):
        raw, svc = ip[f"raw_{name}"], ip[f"svc_{name}"]
        table.add(
            f"raw wasmtime-py: {name}",
            f"{raw.calls_per_s:,.0f}",
            f"{raw.p50_ms * 1000:.0f}",
            f"{raw.p99_ms * 1000:.0f}",
            "1.00×",
        )
        table.add(
            f"runtime execute(): {name}",
            f"{svc.calls_per_s:,.0f}",
            f"{svc.p50_ms * 1000:.0f}",
            f"{svc.p99_ms * 1000:.0f}",
            f"{svc.p50_ms / raw.p50_ms:.2f}×",
        )
    table.print()
    grpc_table = Table(
        "Call analyse through a runtime server (in this process, fed by a loopback marketplace)",
        ["in flight", "calls/s", "p50 ms", "p99 ms", "errors"],
    )
    for concurrency in (1, 8):
        r = asyncio.run(grpc_calls(textstats, concurrency))
        grpc_table.add(concurrency, *r.row())
        results[f"grpc_call_c{concurrency}"] = r
    grpc_table.print()
    results["compile_seconds_textstats"] = compile_seconds
    results["textstats_bytes"] = len(textstats)
    print(f"\ntextstats ({len(textstats) / 1e6:.1f} MB) compiled in {compile_seconds:.1f} s")
    print(f"saved {save_results('components', results)}")


if __name__ == "__main__":
    main()
