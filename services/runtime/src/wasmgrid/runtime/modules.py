"""Obtaining compiled modules: memory LRU → disk artifact → blob/marketplace → compile.

Concurrent requests for the same digest share one load (fetch + verify + compile):
the first starts a task, the others await it. Blocking work (disk, compile,
deserialize) runs on the loader's executor, never on the event loop.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import wasmtime

from wasmgrid.common import wasmfeatures
from wasmgrid.common.errors import DataLoss, InvalidArgument, ResourceExhausted
from wasmgrid.runtime.fetch import Fetcher
from wasmgrid.runtime.metrics import ARTIFACTS_REJECTED, COMPILE_SECONDS, COMPILED_CACHE
from wasmgrid.runtime.sandbox import BLOCKING_IMPORTS, CompiledModule, describe_module
from wasmgrid.runtime.store import ArtifactStore, BlobStore

log = logging.getLogger(__name__)

T = TypeVar("T")
_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")
WASM_MAGIC = b"\0asm"
_REFUSED = "WebAssembly 3.0 runs; refused: " + ", ".join(
    f.name for f in wasmfeatures.FEATURES if not f.supported
)
#: How many refused digests are remembered.
INVALID_ENTRIES = 1024


class CacheTier(enum.Enum):
    """Where compiled code came from (mirrors the proto enum)."""

    MEMORY = 1
    DISK = 2
    COMPILED = 3


def parse_digest(value: str, field: str = "module.digest") -> str:
    """The 64-hex digest from ``<hex>`` or ``sha256:<hex>``, else INVALID_ARGUMENT."""
    m = _DIGEST.match(value.strip().lower())
    if not m:
        shown = value if len(value) <= 80 else value[:80] + "…"
        raise InvalidArgument(
            f"{field} must be 64 hex characters of SHA-256 (optionally 'sha256:'-prefixed),"
            f" got {shown!r}"
        )
    return m.group(1)


@dataclass(frozen=True)
class Loaded:
    """A compiled module and where it came from for this request."""

    module: CompiledModule
    tier: CacheTier
    elapsed_seconds: float


class ModuleLoader:
    """The compiled-module cache: a bounded in-memory LRU over disk artifacts."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        linker: wasmtime.Linker,
        *,
        executor: Executor,
        blobs: BlobStore,
        artifacts: ArtifactStore | None,
        fetcher: Fetcher | None,
        capacity: int,
        max_module_bytes: int,
    ) -> None:
        self.engine = engine
        self.linker = linker
        self.executor = executor
        self.blobs = blobs
        self.artifacts = artifacts
        self.fetcher = fetcher
        self.capacity = capacity
        self.max_module_bytes = max_module_bytes
        self._lru: OrderedDict[str, CompiledModule] = OrderedDict()
        self._pending: dict[str, asyncio.Task[tuple[CompiledModule, CacheTier]]] = {}
        # Digests whose bytes did not compile or link: refused again without recompiling
        # (a module's bytes never change, so neither does the verdict). Bounded.
        self._invalid: OrderedDict[str, str] = OrderedDict()
        self.hits = 0
        self.misses = 0
        #: Loads actually performed (fetch/compile), for tests and stats.
        self.loads = 0
        self.fetches = 0

    def __len__(self) -> int:
        return len(self._lru)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def get(self, digest: str, wasm: bytes | None = None) -> Loaded:
        """The compiled module for `digest`; `wasm` (inline bytes) must hash to it."""
        started = time.perf_counter()
        cached = self._lru.get(digest)
        if cached is not None:
            self._lru.move_to_end(digest)
            self.hits += 1
            COMPILED_CACHE.labels("memory_hit").inc()
            return Loaded(cached, CacheTier.MEMORY, time.perf_counter() - started)
        refused = self._invalid.get(digest)
        if refused is not None:
            raise InvalidArgument(refused)
        task = self._pending.get(digest)
        if task is None:
            task = asyncio.create_task(self._load(digest, wasm), name=f"load-{digest[:12]}")
            task.add_done_callback(self._settled(digest))
            self._pending[digest] = task
        # shield: a caller that goes away does not cancel the load others wait for.
        compiled, tier = await asyncio.shield(task)
        return Loaded(compiled, tier, time.perf_counter() - started)

    def _settled(
        self, digest: str
    ) -> Callable[[asyncio.Task[tuple[CompiledModule, CacheTier]]], None]:
        def done(task: asyncio.Task[tuple[CompiledModule, CacheTier]]) -> None:
            self._pending.pop(digest, None)
            if not task.cancelled():
                task.exception()  # retrieved: waiters get it through the shield

        return done

    async def _load(self, digest: str, wasm: bytes | None) -> tuple[CompiledModule, CacheTier]:
        self.loads += 1
        started = time.perf_counter()
        compiled: CompiledModule | None = None
        if self.artifacts is not None:
            compiled = await self._from_artifact(digest)
        tier = CacheTier.DISK
        if compiled is None:
            tier = CacheTier.COMPILED
            if wasm is None:
                wasm = await self._bytes(digest)
            try:
                compiled = await self._run(self._compile, digest, wasm)
            except InvalidArgument as exc:
                self._invalid[digest] = exc.message
                while len(self._invalid) > INVALID_ENTRIES:
                    self._invalid.popitem(last=False)
                raise
        COMPILE_SECONDS.labels(tier.name.lower()).observe(time.perf_counter() - started)
        COMPILED_CACHE.labels("disk_hit" if tier is CacheTier.DISK else "miss").inc()
        self.misses += 1
        self._lru[digest] = compiled
        self._lru.move_to_end(digest)
        while len(self._lru) > self.capacity:
            self._lru.popitem(last=False)
        return compiled, tier

    async def _bytes(self, digest: str) -> bytes:
        data: bytes | None = await self._run(self.blobs.get, digest)
        if data is not None:
            return data
        if self.fetcher is None:
            raise InvalidArgument(f"module {digest} is not local and no marketplace is configured")
        self.fetches += 1
        data = await self.fetcher.fetch(digest, self.max_module_bytes)
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise DataLoss(
                f"marketplace returned {len(data)} bytes for digest {digest} whose sha256 is"
                f" {actual}; refused, not run"
            )
        await self._run(self.blobs.put, digest, data)
        return data

    async def _from_artifact(self, digest: str) -> CompiledModule | None:
        assert self.artifacts is not None
        payload, reason = await self._run(self.artifacts.get, digest)
        if payload is None:
            if reason != "missing":
                ARTIFACTS_REJECTED.labels(reason).inc()
            return None
        try:
            compiled: CompiledModule = await self._run(self._deserialize, digest, payload)
            return compiled
        except wasmtime.WasmtimeError as exc:
            ARTIFACTS_REJECTED.labels("load").inc()
            log.warning("compiled artifact failed to load; recompiling: %s", exc)
            await self._run(self.artifacts.cache.remove, self.artifacts.path(digest))
            return None

    def check_bytes(self, wasm: bytes, field: str = "module") -> None:
        """Refuse bytes that are too large or not a wasm binary."""
        if len(wasm) > self.max_module_bytes:
            raise ResourceExhausted(
                f"{field} is {len(wasm)} bytes; the limit is {self.max_module_bytes}"
                " (WASMGRID_RUNTIME_MAX_MODULE_BYTES)"
            )
        if not wasm.startswith(WASM_MAGIC):
            raise InvalidArgument(
                f"{field} is not a WebAssembly binary (no \\0asm magic; text format is not"
                f" accepted), first bytes {wasm[:8]!r}"
            )

    def _compile(self, digest: str, wasm: bytes) -> CompiledModule:
        self.check_bytes(wasm, f"module {digest}")
        try:
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            detail = " ".join(str(exc).split())
            raise InvalidArgument(
                f"module {digest} does not compile: invalid WebAssembly or a feature this"
                f" runtime does not run ({_REFUSED}): {detail}"
            ) from None
        compiled = self._prepare(digest, module, len(wasm))
        if self.artifacts is not None:
            try:
                self.artifacts.put(digest, bytes(module.serialize()))
            except (OSError, wasmtime.WasmtimeError) as exc:
                log.warning("could not write compiled artifact: %s", exc, extra={"digest": digest})
        return compiled

    def _deserialize(self, digest: str, payload: bytes) -> CompiledModule:
        module = wasmtime.Module.deserialize(self.engine, payload)
        try:
            size = self.blobs.path(digest).stat().st_size
        except FileNotFoundError:
            size = 0  # an inline module: the artifact is kept, its bytes are not
        return self._prepare(digest, module, size)

    def _prepare(self, digest: str, module: wasmtime.Module, size: int) -> CompiledModule:
        try:
            pre = self.linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise InvalidArgument(
                f"module {digest} cannot be linked (only WASI preview 1 imports are provided):"
                f" {' '.join(str(exc).split())}"
            ) from None
        functions, memory = describe_module(module)
        return CompiledModule(
            digest=digest,
            module=module,
            pre=pre,
            wasm_bytes=size,
            functions=functions,
            is_command="_start" in functions,
            may_block=any(
                i.module == "wasi_snapshot_preview1" and i.name in BLOCKING_IMPORTS
                for i in module.imports
            ),
            has_initialize="_initialize" in functions,
            memory_export=memory,
        )
