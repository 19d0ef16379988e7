"""Test support: a real loopback marketplace peer for ``Download`` and module helpers.

Used by the runtime's own tests and benchmarks, and usable by other services' tests
that need a runtime fed from a marketplace without PostgreSQL.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import wasmtime

from wasmgrid.api.marketplace.v1 import marketplace_pb2, marketplace_pb2_grpc
from wasmgrid.api.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from wasmgrid.common.server import ServiceRunner
from wasmgrid.common.testing import serve
from wasmgrid.runtime.service import RuntimeService
from wasmgrid.runtime.settings import RuntimeSettings

#: An artifact HMAC key for tests only (the settings refuse short/placeholder keys).
TEST_KEY = "test-only-artifact-key-0123456789abcdef"


def wat_file(path: Path) -> bytes:
    """A WebAssembly text file compiled to a binary module."""
    return bytes(wasmtime.wat2wasm(path.read_text()))


def slow_module(functions: int = 800, ops: int = 500) -> bytes:
    """A valid module that takes Cranelift a while to compile (about 1.5 s here with the
    defaults), exporting ``_start`` and ``f0``… (``f(i32) -> i32``)."""
    body = " ".join(
        f"(local.set 0 (i32.add (i32.mul (local.get 0) (i32.const {i * 7 + 3}))"
        f" (i32.xor (local.get 0) (i32.const {i}))))"
        for i in range(ops)
    )
    funcs = " ".join(
        f'(func (export "f{j}") (param i32) (result i32) {body} (local.get 0))'
        for j in range(functions)
    )
    return bytes(wasmtime.wat2wasm(f'(module {funcs} (func (export "_start")))'))


def example_module(repo_root: Path, name: str) -> bytes:
    """An example module's built .wasm (examples/modules/<name>/<name>.wasm)."""
    return (repo_root / "examples" / "modules" / name / f"{name}.wasm").read_bytes()


def example_component(repo_root: Path, name: str) -> bytes:
    """A committed example component (examples/components/<name>/<name>.wasm)."""
    return (repo_root / "examples" / "components" / name / f"{name}.wasm").read_bytes()


class ToolchainMissing(RuntimeError):
    """A toolchain an example needs is not installed (tests skip, naming it)."""


#: Where built examples and the test runtimes' compiled artifacts are kept between runs.
TEST_CACHE = Path(".wasmgrid") / "test-cache"
#: Bound of one componentize-py build (about 15 s here, 35 s under load).
BUILD_SECONDS = 600


def python_component(repo_root: Path, name: str = "textstats") -> Path:
    """The example component examples/components/<name> built with componentize-py (from
    the venv, `make install`), cached under .wasmgrid/test-cache by a hash of its sources
    and the tool's version: built once per machine, ~18 MB, never committed."""
    repo_root = repo_root.resolve()
    source = repo_root / "examples" / "components" / name
    tool = Path(sys.executable).with_name("componentize-py")
    if not tool.exists():
        raise ToolchainMissing(f"{tool} is not installed (make install)")
    h = hashlib.sha256(importlib.metadata.version("componentize-py").encode())
    for path in sorted([source / "app.py", *(source / "wit").glob("*.wit")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    out = repo_root / TEST_CACHE / "components" / f"{name}-{h.hexdigest()[:16]}.wasm"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    done = subprocess.run(
        [str(tool), "--wit-path", "wit", "--world", name, "componentize", "app", "-o", str(tmp)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"componentize-py failed ({done.returncode}): {done.stderr[-2000:]}")
    tmp.replace(out)
    return out


def sha(data: bytes) -> str:
    """The sha256 hex digest of `data`."""
    return hashlib.sha256(data).hexdigest()


def inline(data: bytes, name: str = "") -> runtime_pb2.ModuleSource:
    """A module source carrying the bytes (needs allow_inline)."""
    return runtime_pb2.ModuleSource(wasm=data, display_name=name)


def by_digest(data: bytes, name: str = "") -> runtime_pb2.ModuleSource:
    """A module source naming the bytes by their digest."""
    return runtime_pb2.ModuleSource(digest=sha(data), display_name=name)


@dataclass
class FakeBlobs:
    """State of the loopback marketplace: blobs by digest and the requests it saw."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[marketplace_pb2.DownloadRequest] = field(default_factory=list)
    gate: asyncio.Event | None = None
    chunk: int = 4096


class MarketplaceDownload(marketplace_pb2_grpc.MarketplaceServiceServicer):
    """A real gRPC peer implementing only Download, over a dict of blobs."""

    def __init__(self, state: FakeBlobs) -> None:
        self.state = state

    async def Download(
        self, request: marketplace_pb2.DownloadRequest, context: Any
    ) -> AsyncIterator[marketplace_pb2.DownloadResponse]:
        self.state.requests.append(request)
        if self.state.gate is not None:
            await self.state.gate.wait()
        data = self.state.blobs.get(request.digest.removeprefix("sha256:"))
        if data is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no blob {request.digest}")
        assert data is not None
        yield marketplace_pb2.DownloadResponse(
            header=marketplace_pb2.DownloadHeader(digest=request.digest, size_bytes=len(data))
        )
        for i in range(0, len(data), self.state.chunk):
            yield marketplace_pb2.DownloadResponse(chunk=data[i : i + self.state.chunk])


@dataclass
class Marketplace:
    """A running loopback marketplace double."""

    address: str
    state: FakeBlobs
    server: grpc.aio.Server


@dataclass
class Runtime:
    """A runtime started in-process, with a client stub."""

    runner: ServiceRunner
    service: RuntimeService
    stub: runtime_pb2_grpc.RuntimeServiceAsyncStub
    channel: grpc.aio.Channel

    async def invocations(self) -> int:
        """Calls this runtime has answered (GetStats)."""
        stats = await self.stub.GetStats(runtime_pb2.GetStatsRequest())
        return int(stats.invocations)


RuntimeFactory = Callable[..., Awaitable[Runtime]]


async def start_runtime(data_dir: Path, **overrides: Any) -> Runtime:
    """A runtime served in this process on a free port, with test defaults (no metrics
    port, no server spans, no drain period) and `overrides` as settings fields."""
    values: dict[str, Any] = {
        "grpc_port": 0,
        "metrics_port": 0,
        "data_dir": data_dir,
        "artifact_key": TEST_KEY,
        "readiness_interval_seconds": 0.5,
        "drain_seconds": 0,
        "log_json": False,
    }
    values.update(overrides)
    settings = RuntimeSettings(**values)
    service = RuntimeService(settings)
    runner, channel = await serve(service, settings, serve_metrics=False, tracing=False)
    return Runtime(runner, service, runtime_pb2_grpc.RuntimeServiceStub(channel), channel)


async def stop_runtime(rt: Runtime, grace: float = 0.5) -> None:
    """Close the client and stop the runtime; a stop that hangs fails the test rather
    than the whole session."""
    try:
        await asyncio.wait_for(rt.channel.close(None), 10)
        await asyncio.wait_for(rt.runner.stop(grace), grace + 20)
    except TimeoutError:
        raise AssertionError(f"runtime at {rt.runner.address} did not stop") from None
    # A pooled engine reserves about 260 GiB of address space (its instance slots, sized for
    # components' core instances too) until it is freed, and the service's objects form
    # cycles that only a full collection frees: a session starting hundreds of runtimes
    # otherwise runs out of address space, and wasmtime aborts the process.
    gc.collect()


async def start_marketplace(port: int = 0) -> Marketplace:
    """Serve :class:`MarketplaceDownload` on a loopback port (a free one by default)."""
    state = FakeBlobs()
    server = grpc.aio.server()
    marketplace_pb2_grpc.add_MarketplaceServiceServicer_to_server(
        MarketplaceDownload(state),  # type: ignore[abstract]  # other RPCs: UNIMPLEMENTED
        server,
    )
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return Marketplace(f"127.0.0.1:{port}", state, server)
